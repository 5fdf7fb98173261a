"""PyTorch as the oracle for ``fastbp.Sequential``'s layer kinds: norms, residual blocks, Dense without bias.

Each fastbp network is rebuilt as a ``torch.nn.Sequential`` of the modules the
layer specs promise (``Dense`` is ``nn.Linear`` with its weight transposed,
``LayerNorm`` is ``nn.LayerNorm(width)``, ``BatchNorm`` is
``nn.BatchNorm1d(width)``, ``Residual`` is ``x + f(x)``), with fastbp's
weights copied in by name, all in float64.  Then the training-mode loss and
gradient, several epochs of Adam (running statistics included) and the
eval-mode predictions and loss must agree to float64 rounding.

CI installs the pinned CPU build (the ``test`` extra) and sets
FASTBP_REQUIRE_ORACLES=1, so these tests run there instead of being skipped.
"""

import numpy as np
import pytest

import fastbp
from fastbp import layers as L

torch = pytest.importorskip("torch")
F = torch.nn.functional
nn = torch.nn


class TorchResidual(nn.Sequential):
    """``x + f(x)``, f the child modules in order (named "0", "1", ... as fastbp names them)."""

    def forward(self, x):
        return x + super().forward(x)


TORCH_ACTIVATIONS = {
    "identity": nn.Identity,
    "relu": nn.ReLU,
    "leaky_relu": lambda: nn.LeakyReLU(0.01),
    "elu": nn.ELU,
    "gelu": nn.GELU,  # exact (erf) form
    "sigmoid": nn.Sigmoid,
    "tanh": nn.Tanh,
    "softplus": nn.Softplus,
    "silu": nn.SiLU,
}


def torch_modules(layers, width):
    """The torch modules of fastbp's layer specs on inputs of ``width``; returns (modules, output width)."""
    modules = []
    for layer in layers:
        if isinstance(layer, L.Dense):
            modules.append(nn.Linear(width, layer.n, bias=layer.bias, dtype=torch.float64))
            width = layer.n
        elif isinstance(layer, L.LayerNorm):
            modules.append(nn.LayerNorm(width, eps=layer.eps, dtype=torch.float64))
        elif isinstance(layer, L.BatchNorm):
            modules.append(nn.BatchNorm1d(width, eps=layer.eps, momentum=layer.momentum, dtype=torch.float64))
        elif isinstance(layer, L.Dropout):
            modules.append(nn.Dropout(layer.p))
        elif isinstance(layer, L.Residual):
            inner, inner_width = torch_modules(layer.layers, width)
            assert inner_width == width
            modules.append(TorchResidual(*inner))
        else:
            modules.append(TORCH_ACTIVATIONS[layer.kind]())
    return modules, width


def torch_model(net):
    """``net`` rebuilt in torch (float64) with its parameters and running statistics copied in."""
    modules, _ = torch_modules(net.layers, net.plan.n_in)
    model = nn.Sequential(*modules)
    load_into(model, net)
    return model


def load_into(model, net):
    """Copy fastbp's parameters and buffers into ``model``, matching them by name."""
    params = dict(model.named_parameters())
    buffers = {name: b for name, b in model.named_buffers() if not name.endswith("num_batches_tracked")}
    ours = net.parameters()
    assert [name for name, _ in ours] == list(params), "parameter names or order differ from torch's"
    assert [name for name, _ in net.buffers()] == list(buffers), "buffer names or order differ from torch's"
    with torch.no_grad():
        for name, view in ours:
            value = view.T if view.ndim == 2 else view
            assert tuple(value.shape) == tuple(params[name].shape), name
            params[name].copy_(torch.tensor(np.array(value, dtype=np.float64)))
        for name, view in net.buffers():
            buffers[name].copy_(torch.tensor(np.array(view, dtype=np.float64)))


def flat_params(model):
    """The model's parameters in fastbp's flat layout (Linear weights transposed)."""
    return np.concatenate([(p.T if p.ndim == 2 else p).detach().numpy().ravel() for p in model.parameters()])


def flat_grad(model):
    return np.concatenate([(p.grad.T if p.ndim == 2 else p.grad).numpy().ravel() for p in model.parameters()])


def flat_buffers(model):
    return np.concatenate(
        [b.numpy().ravel() for name, b in model.named_buffers() if not name.endswith("num_batches_tracked")]
    )


def torch_loss(name, out, target):
    return {
        "mse": lambda: F.mse_loss(out, target),
        "squared_error": lambda: 0.5 * F.mse_loss(out, target),
        "mae": lambda: F.l1_loss(out, target),
        "huber": lambda: F.huber_loss(out, target, delta=1.0),
        "cross_entropy": lambda: F.cross_entropy(out, target),
        "binary_cross_entropy": lambda: F.binary_cross_entropy_with_logits(out, target),
    }[name]()


def train_mode(model):
    """Training mode (batch statistics) with dropout off, as ``loss_grad`` without a dropout seed."""
    model.train()
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.eval()
    return model


def problem(loss, n_in, n_out, rows, rng):
    X = rng.normal(size=(rows, n_in))
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, size=rows).astype(np.int64)
        y[: min(rows, n_out)] = np.arange(min(rows, n_out))  # every class present where rows allow
    elif loss == "binary_cross_entropy":
        y = (rng.random(size=(rows, n_out)) < 0.5).astype(np.float64)
    else:
        y = rng.normal(size=(rows, n_out))
    return X, y


def perturb(net, rng):
    """Random biases, norm scales and shifts and running statistics (the defaults are 0 and 1)."""
    for name, view in net.parameters():
        if view.ndim == 1:
            view[...] = rng.normal(scale=0.5, size=view.shape) + (1.0 if ".weight" in name else 0.0)
    for name, view in net.buffers():
        if name.endswith("running_var"):
            view[...] = rng.uniform(0.5, 2.0, size=view.shape)
        else:
            view[...] = rng.normal(scale=0.5, size=view.shape)
    return net


def network(n_in, layers, loss, rng, dtype="float64", seed=0):
    return perturb(fastbp.Sequential(n_in, layers, loss=loss, dtype=dtype, seed=seed), rng)


def torch_target(loss, y):
    return torch.tensor(y) if loss == "cross_entropy" else torch.tensor(np.asarray(y, dtype=np.float64))


def torch_loss_grad(model, X, y, loss):
    """Loss and flat gradient in training mode; running statistics restored (loss_grad keeps them)."""
    saved = [b.clone() for b in model.buffers()]
    train_mode(model)
    model.zero_grad()
    value = torch_loss(loss, model(torch.tensor(np.asarray(X, dtype=np.float64))), torch_target(loss, y))
    value.backward()
    with torch.no_grad():
        for b, old in zip(model.buffers(), saved):
            b.copy_(old)
    return value.item(), flat_grad(model)


def assert_close_grad(ours, theirs, rtol):
    scale = max(np.abs(theirs).max(), 1e-300)
    np.testing.assert_allclose(ours, theirs, rtol=rtol, atol=rtol * scale)


# Tolerance, after training, for the entries that depend on rounding noise (see cancelled_by_batch_norm).
NOISE_ATOL = 1e-7


def cancelled_by_batch_norm(layers, prefix=""):
    """Names of the Dense biases that a BatchNorm directly follows, and of those BatchNorms' running means.

    BatchNorm subtracts the batch mean, so the loss does not depend on such a bias: its exact gradient
    is 0, and fastbp and torch both return rounding noise (~1e-17) for it.  Adam divides that noise by
    its eps (1e-8), so the two copies of the bias drift apart by up to ~lr * 1e-7 per step, and the
    running mean that tracks the bias drifts with them.  After training these entries are compared
    with ``NOISE_ATOL`` instead of 1e-9 (still far below one Adam step, lr = 1e-2).
    """
    names = set()
    for index, layer in enumerate(layers):
        following = layers[index + 1] if index + 1 < len(layers) else None
        if isinstance(layer, L.Residual):
            names |= cancelled_by_batch_norm(layer.layers, f"{prefix}{index}.")
        elif isinstance(layer, L.Dense) and layer.bias and isinstance(following, L.BatchNorm):
            names |= {f"{prefix}{index}.bias", f"{prefix}{index + 1}.running_mean"}
    return names


def flat_mask(named, names):
    """Boolean mask over the flat layout of ``named`` ([(name, view)]), True in the views in ``names``."""
    return np.concatenate(
        [np.zeros(0, dtype=bool)] + [np.full(view.size, name in names) for name, view in named]
    )


def assert_close_after_training(ours, theirs, named, noisy_names):
    """Equal within 1e-9, except the entries named in ``noisy_names``: within NOISE_ATOL."""
    noisy = flat_mask(named, noisy_names)
    assert ours.shape == theirs.shape == noisy.shape
    np.testing.assert_allclose(ours[~noisy], theirs[~noisy], rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(ours[noisy], theirs[noisy], rtol=0, atol=NOISE_ATOL)


# name: (n_in, layers); each ends in 3 outputs
STACKS = {
    "layer_norm": (6, lambda: [L.Dense(8), L.LayerNorm(), L.GELU(), L.Dense(3)]),
    "batch_norm": (6, lambda: [L.Dense(8), L.BatchNorm(), L.ReLU(), L.Dense(3)]),
    "residual_layer_norm": (
        6,
        lambda: [L.Dense(8), L.Residual(L.Dense(8), L.LayerNorm(), L.Tanh()), L.Dense(3)],
    ),
    "residual_batch_norm": (
        6,
        lambda: [L.Dense(8), L.Residual(L.Dense(8), L.BatchNorm(), L.SiLU()), L.Dense(3)],
    ),
    "nested_residual": (
        5,
        lambda: [
            L.Dense(7),
            L.BatchNorm(),
            L.ELU(),
            L.Residual(
                L.Dense(7), L.LayerNorm(), L.GELU(), L.Residual(L.Dense(7), L.BatchNorm(), L.Softplus())
            ),
            L.Dense(3),
        ],
    ),
    "residual_mix": (
        5,
        lambda: [
            L.Dense(7),
            L.LayerNorm(),
            L.ELU(),
            L.Residual(
                L.Dense(7), L.BatchNorm(), L.GELU(), L.Residual(L.Dense(7), L.LayerNorm(), L.Softplus())
            ),
            L.Dense(3),
        ],
    ),
    "two_batch_norms": (
        5,
        lambda: [L.Dense(6), L.BatchNorm(), L.Tanh(), L.Dense(6), L.BatchNorm(), L.ReLU(), L.Dense(3)],
    ),
    "residual_of_norms_only": (
        5,
        lambda: [L.Residual(L.LayerNorm()), L.Residual(L.BatchNorm(), L.Sigmoid()), L.Dense(3)],
    ),
    "batch_norm_first": (4, lambda: [L.BatchNorm(), L.Dense(6), L.LeakyReLU(), L.Dense(3)]),
    "layer_norm_first": (4, lambda: [L.LayerNorm(), L.Dense(6), L.Sigmoid(), L.Dense(3)]),
    "no_bias": (5, lambda: [L.Dense(8, bias=False), L.BatchNorm(), L.ReLU(), L.Dense(3, bias=False)]),
    "norm_last": (5, lambda: [L.Dense(6), L.Tanh(), L.Dense(3), L.BatchNorm(momentum=0.3, eps=1e-3)]),
    "one_feature": (1, lambda: [L.BatchNorm(), L.Dense(5), L.LayerNorm(eps=1e-4), L.Tanh(), L.Dense(3)]),
    "dropout_off": (5, lambda: [L.Dense(8), L.Dropout(0.3), L.LayerNorm(), L.ReLU(), L.Dense(3)]),
    "brief_example": (
        7,
        lambda: [
            L.Dense(12),
            L.BatchNorm(),
            L.ReLU(),
            L.Dropout(0.1),
            L.Residual(L.Dense(12), L.LayerNorm(), L.GELU()),
            L.Dense(3),
        ],
    ),
}


@pytest.mark.parametrize("rows", [2, 7])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
@pytest.mark.parametrize("stack", list(STACKS))
def test_loss_and_gradient_equal_torch_autograd(stack, loss, rows, rng):
    n_in, make = STACKS[stack]
    net = network(n_in, make(), loss, rng)
    X, y = problem(loss, n_in, 3, rows, rng)
    model = torch_model(net)
    expected_loss, expected_grad = torch_loss_grad(model, X, y, loss)
    stats = net.running_stats.copy()
    params = net.params.copy()
    ours, grad = net.loss_grad(X, y)
    assert ours == pytest.approx(expected_loss, rel=1e-10, abs=1e-14)
    assert_close_grad(grad, expected_grad, 1e-10)
    # a bias that BatchNorm cancels has the exact gradient 0: rounding noise only
    cancelled = flat_mask(net.parameters(), cancelled_by_batch_norm(net.layers))
    assert np.abs(grad[cancelled]).max(initial=0.0) <= 1e-12 * np.abs(expected_grad).max()
    # loss_grad changes neither the weights nor the running statistics
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.running_stats, stats)


@pytest.mark.parametrize("loss", ["binary_cross_entropy", "mae", "huber", "squared_error"])
def test_the_other_losses_through_norms_and_residuals_equal_torch(loss, rng):
    net = network(5, STACKS["residual_mix"][1](), loss, rng)
    X, y = problem(loss, 5, 3, 9, rng)
    if loss == "huber":
        y = y * 3.0  # both sides of delta
    expected_loss, expected_grad = torch_loss_grad(torch_model(net), X, y, loss)
    ours, grad = net.loss_grad(X, y)
    assert ours == pytest.approx(expected_loss, rel=1e-10, abs=1e-14)
    assert_close_grad(grad, expected_grad, 1e-10)


# ---------------------------------------------------------------- training and eval mode

TRAINED = {
    "batch_norm": "batch_norm",
    "nested_residual": "nested_residual",
    "residual_mix": "residual_mix",
    "two_batch_norms": "two_batch_norms",
    "batch_norm_first": "batch_norm_first",
    "no_bias": "no_bias",
    "norm_last": "norm_last",
    "layer_norm": "layer_norm",
    "brief_example_without_dropout": "brief_example",
}


def torch_fit(model, X, y, loss, epochs, batch_size, lr=1e-2):
    """fit(shuffle=False) replayed: consecutive batches, torch.optim.Adam, BatchNorm1d in training mode."""
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    Xt = torch.tensor(X)
    yt = torch_target(loss, y)
    for _ in range(epochs):
        for start in range(0, X.shape[0], batch_size):
            train_mode(model)
            optimizer.zero_grad()
            torch_loss(loss, model(Xt[start : start + batch_size]), yt[start : start + batch_size]).backward()
            optimizer.step()
    return model


def torch_predict(model, X, loss):
    """Eval-mode outputs, softmax for cross_entropy (as predict)."""
    model.eval()
    with torch.no_grad():
        out = model(torch.tensor(X))
        return (torch.softmax(out, dim=1) if loss == "cross_entropy" else out).numpy()


@pytest.fixture(
    scope="module",
    params=[(stack, loss) for stack in TRAINED for loss in ("mse", "cross_entropy")],
    ids=lambda p: f"{p[0]}-{p[1]}",
)
def trained(request):
    """A fastbp network and its torch twin after 3 epochs of Adam on the same 3 batches of 8 rows."""
    stack, loss = request.param
    rng = np.random.default_rng(2024)
    n_in, make = STACKS[TRAINED[stack]]
    layers = [layer for layer in make() if not isinstance(layer, L.Dropout)]
    net = network(n_in, layers, loss, rng)
    start = net.running_stats.copy()
    X, y = problem(loss, n_in, 3, 24, rng)
    model = torch_model(net)
    net.fit(X, y, epochs=3, batch_size=8, shuffle=False, optimizer=fastbp.Adam(lr=1e-2))
    torch_fit(model, X, y, loss, epochs=3, batch_size=8)
    X_test, y_test = problem(loss, n_in, 3, 11, rng)
    return {
        "net": net,
        "model": model,
        "loss": loss,
        "train": (X, y),
        "test": (X_test, y_test),
        "start_stats": start,
        "noisy": cancelled_by_batch_norm(net.layers),
    }


def test_fit_with_adam_equals_torch_adam(trained):
    net, model = trained["net"], trained["model"]
    assert_close_after_training(net.params, flat_params(model), net.parameters(), trained["noisy"])


def test_running_statistics_after_fit_equal_batch_norm1d(trained):
    net, model = trained["net"], trained["model"]
    if net.running_stats.size == 0:  # no BatchNorm in this stack
        assert list(model.buffers()) == []
        return
    assert_close_after_training(net.running_stats, flat_buffers(model), net.buffers(), trained["noisy"])
    # 9 updates moved them away from where they started
    assert np.abs(net.running_stats - trained["start_stats"]).min() > 1e-6


def test_predict_after_fit_equals_torch_eval_mode(trained):
    net, model, loss = trained["net"], trained["model"], trained["loss"]
    atol = NOISE_ATOL if trained["noisy"] else 1e-9
    X, X_test = trained["train"][0], trained["test"][0]
    for data in (X, X_test, X_test[:1]):
        np.testing.assert_allclose(net.predict(data), torch_predict(model, data, loss), rtol=1e-9, atol=atol)


def test_evaluate_after_fit_equals_torch_eval_loss(trained):
    net, model, loss = trained["net"], trained["model"], trained["loss"]
    atol = NOISE_ATOL if trained["noisy"] else 1e-12
    model.eval()
    for X, y in (trained["train"], trained["test"]):
        with torch.no_grad():
            expected = torch_loss(loss, model(torch.tensor(X)), torch_target(loss, y)).item()
        assert net.evaluate(X, y) == pytest.approx(expected, rel=1e-9, abs=atol)
        assert net.evaluate(X, y, batch_size=4) == pytest.approx(expected, rel=1e-9, abs=atol)


@pytest.mark.parametrize(
    "stack", ["residual_mix", "nested_residual", "one_feature", "residual_of_norms_only"]
)
def test_predict_with_given_running_statistics_equals_torch_eval_mode(stack, rng):
    n_in, make = STACKS[stack]
    net = network(n_in, make(), "mse", rng)
    X, y = problem("mse", n_in, 3, 6, rng)
    model = torch_model(net)
    expected = torch_predict(model, X, "mse")
    np.testing.assert_allclose(net.predict(X), expected, rtol=1e-10, atol=1e-12)
    assert net.evaluate(X, y) == pytest.approx(
        F.mse_loss(torch.tensor(expected), torch.tensor(y)).item(), rel=1e-10
    )


# ---------------------------------------------------------------- MLP shorthand


def mlp_twin():
    return nn.Sequential(
        nn.Linear(5, 8, dtype=torch.float64),
        nn.BatchNorm1d(8, dtype=torch.float64),
        nn.ReLU(),
        TorchResidual(
            nn.Linear(8, 8, dtype=torch.float64), nn.BatchNorm1d(8, dtype=torch.float64), nn.ReLU()
        ),
        nn.Linear(8, 3, dtype=torch.float64),
    )


def test_mlp_with_batch_norm_and_residual_blocks_equals_torch(rng):
    net = fastbp.MLP([5, 8, 8, 3], norm="batch", residual=True, loss="cross_entropy", dtype="float64")
    perturb(net, rng)
    model = mlp_twin()
    load_into(model, net)  # the names and shapes match the hand-built torch network

    X, y = problem("cross_entropy", 5, 3, 16, rng)
    expected_loss, expected_grad = torch_loss_grad(model, X, y, "cross_entropy")
    ours, grad = net.loss_grad(X, y)
    assert ours == pytest.approx(expected_loss, rel=1e-10)
    assert_close_grad(grad, expected_grad, 1e-10)

    noisy = cancelled_by_batch_norm(net.layers)
    assert noisy == {"0.bias", "1.running_mean", "3.0.bias", "3.1.running_mean"}
    net.fit(X, y, epochs=2, batch_size=8, shuffle=False, optimizer=fastbp.Adam(lr=1e-2))
    torch_fit(model, X, y, "cross_entropy", epochs=2, batch_size=8)
    assert_close_after_training(net.params, flat_params(model), net.parameters(), noisy)
    assert_close_after_training(net.running_stats, flat_buffers(model), net.buffers(), noisy)
    np.testing.assert_allclose(
        net.predict(X), torch_predict(model, X, "cross_entropy"), rtol=1e-9, atol=NOISE_ATOL
    )


# ---------------------------------------------------------------- float32


@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_float32_gradient_of_norm_stacks_is_close_to_torch_float64(loss, rng):
    layers = [
        L.Dense(16),
        L.LayerNorm(),
        L.GELU(),
        L.Residual(L.Dense(16), L.BatchNorm(), L.ReLU()),
        L.BatchNorm(),
        L.Dense(3),
    ]
    net = network(6, layers, loss, rng, dtype="float32")
    assert net.params.dtype == np.float32
    X, y = problem(loss, 6, 3, 32, rng)
    X = X.astype(np.float32)
    if loss != "cross_entropy":
        y = y.astype(np.float32)
    model = torch_model(net)  # float64 copy of the float32 weights
    expected_loss, expected_grad = torch_loss_grad(model, X, y, loss)
    ours, grad = net.loss_grad(X, y)
    assert grad.dtype == np.float32
    assert ours == pytest.approx(expected_loss, rel=1e-5)
    assert_close_grad(grad.astype(np.float64), expected_grad, 1e-4)
