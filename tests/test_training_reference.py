"""Dropout, shuffling and whole fits against the NumPy reference in ``tests/reference.py``.

The reference rewrites fastbp's documented random numbers (the dropout masks
and the per-epoch shuffle order) and its training loop from their
descriptions, so a wrong dropout scale, an epoch order that never changes or
a mis-weighted step shows up as a difference from an independent result,
not from fastbp compared with itself.
"""

import numpy as np
import pytest
import reference as ref

import fastbp


def _net(sizes, acts, loss, rates=0.0, seed=0, dtype="float64"):
    net = fastbp.MLP(sizes, activation=acts, loss=loss, dropout=rates, dtype=dtype, seed=seed)
    for b in net.intercepts_:  # non-zero biases, so a rule that mishandles them shows
        b[:] = np.random.default_rng(seed + 100).normal(size=b.shape) * 0.3
    return net


def _targets(loss, rows, n_out, rng):
    if loss == "cross_entropy":
        return rng.integers(0, n_out, size=rows)
    return rng.normal(size=(rows, n_out))


@pytest.mark.parametrize("rates", [(0.25, 0.1), (0.7, 0.4), (0.1, 0.0)])
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_dropout_loss_grad_equals_numpy_with_the_same_mask(rates, loss, rng):
    """Rates other than 0.5, where 1/rate and 1/(1 - rate) differ, on a two-hidden-layer network."""
    sizes = [5, 9, 7, 3]
    acts = ["tanh", "relu"]
    net = _net(sizes, acts, loss, list(rates), seed=1)
    X, y = rng.normal(size=(13, 5)), _targets(loss, 13, 3, rng)
    seed = 2024  # loss_grad's mask key is the seed itself
    draws = [ref.dropout_draws(seed, layer, 13, sizes[layer + 1]) for layer in range(2)]
    keep = [d >= r if r > 0 else None for d, r in zip(draws, rates)]
    for d, r in zip(draws, rates):  # the draws are uniform: about a fraction `rate` is dropped
        assert abs((d < r).mean() - r) < 0.2
    value, grad = net.loss_grad(X, y, dropout_seed=seed)
    expected, dws, dbs = ref.network_loss_grad(
        net.coefs_, net.intercepts_, acts, "identity", loss, X, y, keep=keep, rates=list(rates)
    )
    assert value == pytest.approx(expected, rel=1e-12)
    np.testing.assert_allclose(grad, ref.flatten(dws, dbs), rtol=1e-10, atol=1e-13)
    # the same network without dropout is clearly different: the mask matters
    plain_value, _ = net.loss_grad(X, y)
    assert abs(plain_value - value) > 1e-3 * abs(value)


@pytest.mark.parametrize(
    "sizes,batch_size",
    [([4, 12, 6, 2], 24), ([4, 12, 6, 2], 100), ([30, 40, 2], 50)],
    ids=["serial", "chunked-parallel", "blas"],
)
def test_dropout_fit_equals_the_reference_trainer(sizes, batch_size, rng):
    """Both storage orders: batches of 24 run one serial pass, 100 rows run in parallel chunks."""
    acts = ["tanh"] * (len(sizes) - 2)
    rates = [0.3, 0.15][: len(acts)]
    net = _net(sizes, acts, "mse", rates, seed=3)
    X, y = rng.normal(size=(230, sizes[0])), rng.normal(size=(230, sizes[-1]))
    start = net.params.copy()
    hist = net.fit(X, y, epochs=2, batch_size=batch_size, optimizer=fastbp.SGD(lr=0.05), seed=9)
    expected, losses = ref.train(
        sizes, start, acts, "identity", "mse", X, y, ref.SGD(lr=0.05), 2, batch_size, seed=9, rates=rates
    )
    np.testing.assert_allclose(net.params, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-10)


def test_shuffled_epochs_see_different_orders_and_follow_the_documented_one(rng):
    """A 4-epoch shuffled fit equals a hand-written loop over the documented per-epoch order.

    The order of epoch e is ``shuffled_order(n, epoch_key(seed, e))``; with a
    fixed order for every epoch the result would be measurably different.
    """
    sizes, acts = [3, 8, 2], ["tanh"]
    net = _net(sizes, acts, "mse", seed=4)
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 2))
    orders = [ref.shuffled_order(40, ref.epoch_key(7, e)) for e in range(4)]
    assert all(sorted(o) == list(range(40)) for o in orders)
    assert len({tuple(o) for o in orders}) == 4
    start = net.params.copy()
    hist = net.fit(X, y, epochs=4, batch_size=6, optimizer=fastbp.SGD(lr=0.1, momentum=0.9), seed=7)

    params = start.copy()
    opt = ref.SGD(lr=0.1, momentum=0.9)
    losses = []
    for order in orders:  # the loop written out, batches of 6 (the last of 4 rows)
        total = 0.0
        for begin in range(0, 40, 6):
            rows = order[begin : begin + 6]
            ws, bs = ref.unflatten(params, sizes)
            value, dws, dbs = ref.network_loss_grad(ws, bs, acts, "identity", "mse", X[rows], y[rows])
            params = opt.step(params, ref.flatten(dws, dbs))
            total += value * len(rows)
        losses.append(total / 40)
    np.testing.assert_allclose(net.params, params, rtol=1e-10, atol=1e-13)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-11)
    # the same loop with epoch 0's order every epoch ends elsewhere: the test can tell
    same_order, _ = ref.train(sizes, start, acts, "identity", "mse", X[orders[0]], y[orders[0]],
                              ref.SGD(lr=0.1, momentum=0.9), 4, 6, shuffle=False)  # fmt: skip
    assert np.max(np.abs(same_order - params)) > 1e-3


def test_consecutive_fits_continue_the_epoch_count_of_the_shuffle(rng):
    """Without ``seed``, a second fit's epochs are the network's epochs 3, 4: a new order each."""
    sizes, acts = [3, 6, 1], ["relu"]
    net = _net(sizes, acts, "mse", seed=5)
    X, y = rng.normal(size=(30, 3)), rng.normal(size=(30, 1))
    start = net.params.copy()
    net.fit(X, y, epochs=3, batch_size=8, optimizer="sgd")
    net.fit(X, y, epochs=2, batch_size=8, optimizer="sgd")
    after_3, _ = ref.train(sizes, start, acts, "identity", "mse", X, y, ref.SGD(lr=1e-3), 3, 8, seed=5)
    expected, _ = ref.train(sizes, after_3, acts, "identity", "mse", X, y, ref.SGD(lr=1e-3), 2, 8,
                            seed=5, first_epoch=3)  # fmt: skip
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-13)


@pytest.mark.parametrize("batch_size", [9, 64])
def test_weighted_shuffled_fit_with_l2_equals_the_reference_trainer(batch_size, rng):
    """Row weights, the L2 term divided by the batch's weight sum, Adam; serial and chunked paths."""
    sizes, acts = [4, 10, 3], ["silu"]
    net = fastbp.MLP(sizes, activation=acts, loss="cross_entropy", alpha=0.05, dtype="float64", seed=6)
    X, y = rng.normal(size=(150, 4)), rng.integers(0, 3, size=150)
    w = rng.uniform(0.0, 3.0, size=150)
    start = net.params.copy()
    hist = net.fit(X, y, epochs=2, batch_size=batch_size, optimizer=fastbp.Adam(lr=0.01), sample_weight=w,
                   seed=1)  # fmt: skip
    expected, losses = ref.train(sizes, start, acts, "identity", "cross_entropy", X, y, ref.Adam(lr=0.01), 2,
                                 batch_size, seed=1, alpha=0.05, w=w)  # fmt: skip
    np.testing.assert_allclose(net.params, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-10)
