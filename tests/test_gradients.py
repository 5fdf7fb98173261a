"""Float64 central-difference checks of ``loss_grad`` over every packed parameter."""

import numpy as np
import pytest
import reference as ref
from reference import ACTIVATIONS, LOSSES

import fastbp
from fastbp.gradcheck import numerical_gradient

TOL = 1e-6


def _problem(loss, n_in, n_out, rows, rng):
    X = rng.normal(size=(rows, n_in))
    if loss == "cross_entropy":
        y = rng.integers(0, n_out, size=rows)
    elif loss == "binary_cross_entropy":
        y = (rng.random((rows, n_out)) < 0.5).astype(np.float64)
    else:
        y = rng.normal(size=(rows, n_out))
    return X, y


def _randomise_biases(net, rng):
    """Non-zero biases, so a rule that mishandles them shows up."""
    for b in net.intercepts_:
        b[:] = rng.normal(size=b.shape) * 0.3


@pytest.mark.parametrize("loss", LOSSES)
@pytest.mark.parametrize("activation", ACTIVATIONS)
def test_gradient_every_activation_and_loss(activation, loss, rng):
    n_out = 1 if loss in ("mse", "mae", "huber") else 3
    net = fastbp.MLP([4, 5, 3, n_out], activation=activation, loss=loss, dtype="float64", seed=3)
    _randomise_biases(net, rng)
    X, y = _problem(loss, 4, n_out, 6, rng)
    assert fastbp.gradcheck(net, X, y) < TOL


@pytest.mark.parametrize("loss", LOSSES)
def test_gradient_with_sample_weights(loss, rng):
    n_out = 2 if loss != "cross_entropy" else 3
    net = fastbp.MLP([4, 6, n_out], activation="tanh", loss=loss, alpha=0.1, dtype="float64", seed=4)
    _randomise_biases(net, rng)
    X, y = _problem(loss, 4, n_out, 7, rng)
    w = rng.uniform(0, 3, size=7)
    w[2] = 0.0  # a row that counts for nothing
    assert fastbp.gradcheck(net, X, y, sample_weight=w) < TOL
    # the weighted mean of the row losses, and the L2 term divided by the weight sum
    loss_value, _ = net.loss_grad(X, y, sample_weight=w)
    rows = [net.loss_grad(X[i : i + 1], y[i : i + 1], sample_weight=None)[0] for i in range(7)]
    penalty = 0.5 * 0.1 * sum((c**2).sum() for c in net.coefs_)
    data = [r - penalty for r in rows]  # one-row losses carry the L2 term divided by 1 row
    expected = (np.dot(w, data) + penalty) / w.sum()
    assert loss_value == pytest.approx(expected, rel=1e-12)


def test_gradient_deep_network_with_mixed_activations(rng):
    acts = ["tanh", "gelu", "silu", "elu", "softplus"]
    net = fastbp.MLP([7, 9, 8, 6, 5, 3, 4], activation=acts, loss="cross_entropy", dtype="float64", seed=5)
    _randomise_biases(net, rng)
    X, y = _problem("cross_entropy", 7, 4, 11, rng)
    assert fastbp.gradcheck(net, X, y) < TOL


def test_gradient_one_hot_and_soft_targets(rng):
    net = fastbp.MLP([3, 6, 4], activation="tanh", loss="cross_entropy", dtype="float64", seed=1)
    X = rng.normal(size=(5, 3))
    assert fastbp.gradcheck(net, X, rng.dirichlet(np.ones(4), size=5)) < TOL
    assert fastbp.gradcheck(net, X, np.eye(4)[rng.integers(0, 4, 5)]) < TOL


@pytest.mark.parametrize("output", ["sigmoid", "tanh", "softplus"])
def test_gradient_regression_output_activation(output, rng):
    net = fastbp.MLP([3, 5, 2], activation="tanh", loss="mse", output=output, dtype="float64", seed=2)
    X, y = _problem("mse", 3, 2, 4, rng)
    assert fastbp.gradcheck(net, X, y) < TOL


def test_gradient_with_l2_penalty(rng):
    net = fastbp.MLP([4, 6, 2], activation="tanh", loss="mse", alpha=0.3, dtype="float64", seed=0)
    X, y = _problem("mse", 4, 2, 5, rng)
    assert fastbp.gradcheck(net, X, y) < TOL
    plain = fastbp.MLP([4, 6, 2], activation="tanh", loss="mse", dtype="float64", seed=0)
    # the L2 term changes the weight gradients by exactly alpha * W / rows
    delta = net.loss_grad(X, y)[1] - plain.loss_grad(X, y)[1]
    mask = net.weight_mask()
    np.testing.assert_allclose(delta[mask], 0.3 * net.params[mask] / 5, rtol=1e-9)
    np.testing.assert_allclose(delta[~mask], 0.0, atol=1e-15)


def test_gradient_through_dropout_with_fixed_mask(rng):
    net = fastbp.MLP(
        [5, 8, 7, 2], activation="tanh", loss="mse", dropout=[0.5, 0.25], dtype="float64", seed=0
    )
    X, y = _problem("mse", 5, 2, 9, rng)
    assert fastbp.gradcheck(net, X, y, dropout_seed=11) < TOL
    on = net.loss_grad(X, y, dropout_seed=11)
    again = net.loss_grad(X, y, dropout_seed=11)
    off = net.loss_grad(X, y)
    np.testing.assert_array_equal(on[1], again[1])
    assert on[0] != off[0]  # the mask really changed the network


def test_gradient_of_float32_network_is_checked_in_float64(rng):
    net = fastbp.MLP([3, 4, 2], activation="relu", loss="huber", seed=0)
    assert net.params.dtype == np.float32
    X, y = _problem("huber", 3, 2, 5, rng)
    assert fastbp.gradcheck(net, X, y) < TOL
    loss32, grad32 = net.loss_grad(X.astype(np.float32), y.astype(np.float32))
    loss64, grad64 = net.copy(dtype="float64").loss_grad(X, y)
    assert grad32.dtype == np.float32
    np.testing.assert_allclose(grad32, grad64, rtol=1e-4, atol=1e-6)
    assert loss32 == pytest.approx(loss64, rel=1e-5)


def test_loss_grad_matches_textbook_backprop_and_not_the_bias_rule(rng):
    """The hidden delta is (delta_next @ W_next.T) * f'(z): the next bias does not enter it.

    ``shared/seeds/000`` writes ``(W^T delta + b) * f'(z)``.  The reference
    implements both; fastbp must match the right one, and the test checks that
    the wrong one is far enough off that this comparison would catch it.
    """
    acts = ["tanh", "sigmoid"]
    net = fastbp.MLP([4, 6, 5, 3], activation=acts, loss="mse", dtype="float64", seed=9)
    _randomise_biases(net, rng)
    X, y = _problem("mse", 4, 3, 7, rng)
    loss, grad = net.loss_grad(X, y)
    ws, bs = net.coefs_, net.intercepts_
    right = ref.network_loss_grad(ws, bs, acts, "identity", "mse", X, y)
    wrong = ref.network_loss_grad(ws, bs, acts, "identity", "mse", X, y, wrong_bias_rule=True)
    flat_right = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(right[1], right[2])])
    flat_wrong = np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(wrong[1], wrong[2])])
    assert loss == pytest.approx(right[0], rel=1e-12)
    np.testing.assert_allclose(grad, flat_right, rtol=1e-10, atol=1e-13)
    assert np.max(np.abs(flat_wrong - flat_right)) > 1e-2
    # and finite differences side with the correct rule
    _, numeric = numerical_gradient(net, X, y)
    assert np.max(np.abs(numeric - flat_right)) < 1e-8
    assert np.max(np.abs(numeric - flat_wrong)) > 1e-2


def test_gradcheck_reports_a_broken_gradient(rng, monkeypatch):
    """gradcheck itself can fail: a gradient off by a small amount is reported."""
    net = fastbp.MLP([3, 4, 1], activation="tanh", dtype="float64", seed=0)
    X, y = _problem("mse", 3, 1, 4, rng)
    original = fastbp.MLP._loss_grad_function

    def off_by_a_bit(self, *args):
        exact = original(self, *args)

        def wrong(grad):
            loss = exact(grad)
            grad[0] *= 1.001
            return loss

        return wrong

    monkeypatch.setattr(fastbp.MLP, "_loss_grad_function", off_by_a_bit)
    assert fastbp.gradcheck(net, X, y) > 1e-4
