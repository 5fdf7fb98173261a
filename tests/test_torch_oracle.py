"""PyTorch as the oracle: fastbp's losses, gradients and optimizer steps against torch autograd, float64.

fastbp promises ``torch.nn``'s loss and activation definitions and
``torch.optim``'s update rules, so where PyTorch defines the semantics it
is the judge.  The same network is built in torch from fastbp's weights (a
layer computes ``x @ W + b`` with W of shape (n_in, n_out)), and the loss,
every gradient and the weights after several optimizer steps must agree to
float64 rounding.  The NumPy references in ``tests/reference.py`` stay as a
second, torch-free check.

CI installs the pinned CPU build (the ``test`` extra) and sets
FASTBP_REQUIRE_ORACLES=1, so these tests run there instead of being skipped.
"""

import numpy as np
import pytest
import reference as ref
from reference import ACTIVATIONS, LOSSES

import fastbp

torch = pytest.importorskip("torch")
F = torch.nn.functional

TORCH_ACTIVATIONS = {
    "identity": lambda z: z,
    "relu": F.relu,
    "leaky_relu": lambda z: F.leaky_relu(z, 0.01),
    "elu": F.elu,
    "gelu": F.gelu,  # exact (erf) form
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "softplus": F.softplus,  # beta 1, linear above 20
    "silu": F.silu,
}


def torch_loss(name, out, target, w=None):
    """torch.nn's mean loss; with row weights ``w``, sum(w * row loss) / sum(w)."""
    if name == "cross_entropy":
        rows = F.cross_entropy(out, target, reduction="none")
    elif name == "binary_cross_entropy":
        rows = F.binary_cross_entropy_with_logits(out, target, reduction="none").mean(dim=1)
    else:
        element = {
            "mse": lambda: F.mse_loss(out, target, reduction="none"),
            "squared_error": lambda: 0.5 * F.mse_loss(out, target, reduction="none"),
            "mae": lambda: F.l1_loss(out, target, reduction="none"),
            "huber": lambda: F.huber_loss(out, target, reduction="none", delta=1.0),
        }[name]()
        rows = element.mean(dim=1)
    if w is None:
        return rows.mean()
    w = torch.as_tensor(w)
    return (w * rows).sum() / w.sum()


class TorchNet:
    """fastbp's network rebuilt from its weights as torch leaf tensors (W0, b0, W1, b1, ...)."""

    def __init__(self, net):
        self.net = net
        self.tensors = []
        for w, b in zip(net.coefs_, net.intercepts_):
            self.tensors += [
                torch.tensor(w.copy(), requires_grad=True),
                torch.tensor(b.copy(), requires_grad=True),
            ]
        self.names = list(net.activation) + [
            net.output if net.loss not in ("cross_entropy", "binary_cross_entropy") else "identity"
        ]

    def forward(self, X, keep=None, rates=None):
        h = torch.as_tensor(X)
        pairs = list(zip(self.tensors[::2], self.tensors[1::2]))
        for layer, ((w, b), name) in enumerate(zip(pairs, self.names)):
            h = TORCH_ACTIVATIONS[name](h @ w + b)
            if keep is not None and layer < len(keep) and keep[layer] is not None:
                h = h * torch.as_tensor(keep[layer], dtype=h.dtype) / (1.0 - rates[layer])
        return h

    def loss(self, X, y, keep=None, rates=None, w=None):
        target = torch.as_tensor(y)
        value = torch_loss(self.net.loss, self.forward(X, keep, rates), target, w)
        if self.net.alpha > 0:
            norm = len(X) if w is None else float(np.sum(w))
            value = value + 0.5 * self.net.alpha * sum((t**2).sum() for t in self.tensors[::2]) / norm
        return value

    def loss_grad(self, X, y, **kwargs):
        for t in self.tensors:
            t.grad = None
        value = self.loss(X, y, **kwargs)
        value.backward()
        return value.item(), self.flat_grad()

    def flat(self):
        return np.concatenate([t.detach().numpy().ravel() for t in self.tensors])

    def flat_grad(self):
        return np.concatenate([t.grad.numpy().ravel() for t in self.tensors])


def _problem(loss, n_in, n_out, rows, rng):
    X = rng.normal(size=(rows, n_in))
    if loss == "cross_entropy":
        return X, rng.integers(0, n_out, size=rows)
    if loss == "binary_cross_entropy":
        return X, (rng.random((rows, n_out)) < 0.5).astype(np.float64)
    return X, rng.normal(size=(rows, n_out)) * 1.5  # some |errors| above huber's delta of 1


def _network(sizes, activation, loss, rng, **kwargs):
    net = fastbp.MLP(sizes, activation=activation, loss=loss, dtype="float64", seed=3, **kwargs)
    for b in net.intercepts_:
        b[:] = rng.normal(size=b.shape) * 0.3
    return net


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_loss_and_gradient_equal_torch_autograd(activation, loss, rng):
    n_out = 3
    net = _network([4, 6, 5, n_out], activation, loss, rng)
    X, y = _problem(loss, 4, n_out, 9, rng)
    value, grad = net.loss_grad(X, y)
    expected, expected_grad = TorchNet(net).loss_grad(X, y)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("output", ["sigmoid", "tanh", "softplus", "elu"])
def test_regression_output_activation_and_l2_equal_torch(output, rng):
    net = _network([3, 7, 2], "gelu", "huber", rng, output=output, alpha=0.2)
    X, y = _problem("huber", 3, 2, 8, rng)
    value, grad = net.loss_grad(X, y)
    expected, expected_grad = TorchNet(net).loss_grad(X, y)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)


def test_soft_one_hot_and_unnormalised_targets_equal_torch_probability_targets(rng):
    net = _network([3, 6, 4], "tanh", "cross_entropy", rng)
    X = rng.normal(size=(7, 3))
    # rows that sum to 1, one-hot rows, and unnormalised rows (the gradient is softmax * sum(y) - y)
    for y in (rng.dirichlet(np.ones(4), size=7), np.eye(4)[rng.integers(0, 4, 7)], rng.uniform(0, 1, (7, 4))):
        value, grad = net.loss_grad(X, y)
        expected, expected_grad = TorchNet(net).loss_grad(X, y)  # torch takes class probabilities too
        assert value == pytest.approx(expected, rel=1e-12)
        np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("loss", ["mse", "cross_entropy", "binary_cross_entropy", "mae"])
def test_sample_weights_equal_torch_weighted_mean(loss, rng):
    net = _network([4, 6, 3], "silu", loss, rng, alpha=0.1)
    X, y = _problem(loss, 4, 3, 10, rng)
    w = rng.uniform(0, 3, size=10)
    w[4] = 0.0
    value, grad = net.loss_grad(X, y, sample_weight=w)
    expected, expected_grad = TorchNet(net).loss_grad(X, y, w=w)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)


@pytest.mark.parametrize("rates", [(0.2, 0.6), (0.45, 0.0)])
def test_dropout_with_a_shared_mask_equals_torch(rates, rng):
    """fastbp's mask (from its documented generator) applied in torch as h * keep / (1 - p)."""
    sizes = [5, 8, 6, 2]
    net = _network(sizes, ["relu", "tanh"], "mse", rng, dropout=list(rates))
    X, y = _problem("mse", 5, 2, 11, rng)
    keep = [ref.dropout_draws(77, layer, 11, sizes[layer + 1]) >= r if r > 0 else None
            for layer, r in enumerate(rates)]  # fmt: skip
    value, grad = net.loss_grad(X, y, dropout_seed=77)
    expected, expected_grad = TorchNet(net).loss_grad(X, y, keep=keep, rates=rates)
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, expected_grad, rtol=1e-10, atol=1e-14)


OPTIMIZERS = [
    (lambda: fastbp.SGD(lr=0.1), lambda p: torch.optim.SGD(p, lr=0.1)),
    (lambda: fastbp.SGD(lr=0.05, momentum=0.9), lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9)),
    (
        lambda: fastbp.SGD(lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.8, dampening=0.3, weight_decay=0.02),
    ),
    (
        lambda: fastbp.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda p: torch.optim.SGD(p, lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    ),
    (lambda: fastbp.Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
    (
        lambda: fastbp.Adam(lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
        lambda p: torch.optim.Adam(p, lr=0.02, betas=(0.8, 0.95), eps=1e-6, weight_decay=0.1),
    ),
    (lambda: fastbp.AdamW(lr=0.01), lambda p: torch.optim.AdamW(p, lr=0.01)),
    (
        lambda: fastbp.AdamW(lr=0.01, weight_decay=0.3),
        lambda p: torch.optim.AdamW(p, lr=0.01, weight_decay=0.3),
    ),
    (lambda: fastbp.RMSprop(lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    (
        lambda: fastbp.RMSprop(lr=0.01, momentum=0.5, centered=True, weight_decay=0.05),
        lambda p: torch.optim.RMSprop(p, lr=0.01, momentum=0.5, centered=True, weight_decay=0.05),
    ),
    (lambda: fastbp.Adagrad(lr=0.1), lambda p: torch.optim.Adagrad(p, lr=0.1)),
    (
        lambda: fastbp.Adagrad(lr=0.1, lr_decay=0.01, weight_decay=0.02),
        lambda p: torch.optim.Adagrad(p, lr=0.1, lr_decay=0.01, weight_decay=0.02),
    ),
]


@pytest.mark.parametrize("make_ours,make_theirs", OPTIMIZERS)
def test_optimizer_steps_equal_torch_optim(make_ours, make_theirs, rng):
    """Three epochs of batches of 5, 5 and 2 rows in order: nine steps, with the state carried along."""
    net = _network([3, 6, 2], "tanh", "mse", rng)
    X, y = _problem("mse", 3, 2, 12, rng)
    theirs = TorchNet(net)
    optimizer = make_theirs(theirs.tensors)
    for _ in range(3):
        for start in range(0, 12, 5):
            optimizer.zero_grad()
            theirs.loss(X[start : start + 5], y[start : start + 5]).backward()
            optimizer.step()
    ours = make_ours()
    net.fit(X, y, epochs=3, batch_size=5, optimizer=ours, shuffle=False)
    assert ours.step_count == 9
    np.testing.assert_allclose(net.params, theirs.flat(), rtol=1e-10, atol=1e-13)


def test_clip_norm_equals_torch_clip_grad_norm(rng):
    net = _network([3, 6, 2], "relu", "mse", rng)
    X, y = _problem("mse", 3, 2, 12, rng)
    y = y * 10.0  # gradients well above the clip norm
    theirs = TorchNet(net)
    optimizer = torch.optim.Adam(theirs.tensors, lr=0.05)
    for start in range(0, 12, 4):
        optimizer.zero_grad()
        theirs.loss(X[start : start + 4], y[start : start + 4]).backward()
        torch.nn.utils.clip_grad_norm_(theirs.tensors, 0.5)
        optimizer.step()
    net.fit(X, y, epochs=1, batch_size=4, optimizer=fastbp.Adam(lr=0.05), shuffle=False, clip_norm=0.5)
    np.testing.assert_allclose(net.params, theirs.flat(), rtol=1e-10, atol=1e-13)


def test_a_shuffled_dropout_fit_equals_torch_with_the_same_masks_and_order(rng):
    """fit's documented order and dropout masks, replayed in torch with torch.optim.Adam."""
    sizes = [4, 10, 3]
    net = _network(sizes, "elu", "cross_entropy", rng, dropout=0.3)
    X, y = _problem("cross_entropy", 4, 3, 23, rng)
    theirs = TorchNet(net)
    optimizer = torch.optim.Adam(theirs.tensors, lr=0.02)
    for epoch in range(2):
        key = ref.epoch_key(11, epoch)
        order = ref.shuffled_order(23, key)
        for batch, start in enumerate(range(0, 23, 8)):
            rows = order[start : start + 8]
            keep = [ref.dropout_draws(ref.batch_key(key, batch), 0, len(rows), 10) >= 0.3]
            optimizer.zero_grad()
            theirs.loss(X[rows], y[rows], keep=keep, rates=[0.3]).backward()
            optimizer.step()
    net.fit(X, y, epochs=2, batch_size=8, optimizer=fastbp.Adam(lr=0.02), seed=11)
    np.testing.assert_allclose(net.params, theirs.flat(), rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize(
    "make_ours,make_theirs",
    [
        (lambda: fastbp.Adam(lr=0.01), lambda p: torch.optim.Adam(p, lr=0.01)),
        (lambda: fastbp.RMSprop(lr=0.01), lambda p: torch.optim.RMSprop(p, lr=0.01)),
    ],
)
def test_float32_moments_of_a_gradient_whose_square_overflows_equal_torch(make_ours, make_theirs):
    """float32 gradients of 2e19 (their square is beyond float32's range): a finite step, as in torch."""
    rng = np.random.default_rng(0)
    params = rng.normal(size=37).astype(np.float32)
    grads = [rng.normal(size=37).astype(np.float32) for _ in range(3)]
    grads[0][::3] = 2e19
    theirs = torch.tensor(params.copy(), requires_grad=True)
    optimizer = make_theirs([theirs])
    ours = make_ours()
    ours.bind(37, np.float32)
    mine = params.copy()
    from fastbp.kernels.optimizers import optimizer_update

    for step, g in enumerate(grads, start=1):
        theirs.grad = torch.tensor(g)
        optimizer.step()
        optimizer_update(ours.kind, ours.hyper(), ours.lr, step, mine, g.copy(), ours.state)
    expected = theirs.detach().numpy()
    assert np.isfinite(mine).all()
    np.testing.assert_allclose(mine, expected, rtol=1e-5, atol=1e-6)
