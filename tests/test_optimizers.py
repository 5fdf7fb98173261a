"""Each optimizer, through ``fit``, against a hand-written NumPy reference for several steps."""

import numpy as np
import pytest
import reference as ref

import fastbp


def _reference_gradient(net, params, X, y):
    """The full-batch gradient at ``params`` by the NumPy reference's backpropagation (mse loss)."""
    ws, bs = ref.unflatten(params, list(net.sizes))
    _, dws, dbs = ref.network_loss_grad(ws, bs, net.activation, net.output, "mse", X, y)
    return ref.flatten(dws, dbs)


CASES = [
    (lambda: fastbp.SGD(lr=0.1), lambda: ref.SGD(lr=0.1)),
    (lambda: fastbp.SGD(lr=0.05, momentum=0.9), lambda: ref.SGD(lr=0.05, momentum=0.9)),
    (
        lambda: fastbp.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
        lambda: ref.SGD(lr=0.05, momentum=0.9, nesterov=True, weight_decay=0.01),
    ),
    (lambda: fastbp.Adam(), lambda: ref.Adam()),
    (
        lambda: fastbp.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
        lambda: ref.Adam(lr=0.01, betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1),
    ),
    (lambda: fastbp.AdamW(), lambda: ref.Adam(weight_decay=1e-2, decoupled=True)),
    (
        lambda: fastbp.AdamW(lr=0.01, weight_decay=0.5),
        lambda: ref.Adam(lr=0.01, weight_decay=0.5, decoupled=True),
    ),
    (lambda: fastbp.RMSprop(), lambda: ref.RMSprop()),
    (
        lambda: fastbp.RMSprop(lr=1e-3, momentum=0.9, weight_decay=0.01, centered=True),
        lambda: ref.RMSprop(lr=1e-3, momentum=0.9, weight_decay=0.01, centered=True),
    ),
    (lambda: fastbp.Adagrad(), lambda: ref.Adagrad()),
    (
        lambda: fastbp.Adagrad(lr=0.1, lr_decay=0.01, weight_decay=0.01),
        lambda: ref.Adagrad(lr=0.1, lr_decay=0.01, weight_decay=0.01),
    ),
]


@pytest.mark.parametrize("make_fast,make_ref", CASES)
def test_optimizer_matches_reference_over_several_steps(make_fast, make_ref, rng):
    net = fastbp.MLP([3, 5, 2], activation="tanh", loss="mse", dtype="float64", seed=4)
    X = rng.normal(size=(10, 3))
    y = rng.normal(size=(10, 2))
    expected = net.params.copy()
    reference = make_ref()
    for _ in range(6):  # full-batch steps on the reference's own backpropagation
        expected = reference.step(expected, _reference_gradient(net, expected, X, y))
    net.fit(X, y, epochs=6, batch_size=10, optimizer=make_fast(), shuffle=False)
    np.testing.assert_allclose(net.params, expected, rtol=1e-10, atol=1e-12)


def test_optimizer_state_continues_across_fits(rng):
    X, y = rng.normal(size=(8, 3)), rng.normal(size=(8, 1))
    once = fastbp.MLP([3, 4, 1], dtype="float64", seed=1)
    twice = once.copy()
    once.fit(X, y, epochs=4, batch_size=3, optimizer=fastbp.Adam(lr=0.01), shuffle=False)
    opt = fastbp.Adam(lr=0.01)
    twice.fit(X, y, epochs=2, batch_size=3, optimizer=opt, shuffle=False)
    twice.fit(X, y, epochs=2, batch_size=3, optimizer=opt, shuffle=False)
    assert opt.step_count == 12
    np.testing.assert_allclose(twice.params, once.params, rtol=1e-12)


def test_optimizer_names_give_torch_defaults():
    from fastbp.optimizers import get_optimizer

    assert repr(get_optimizer("adam")) == repr(fastbp.Adam(lr=1e-3, betas=(0.9, 0.999), eps=1e-8))
    assert get_optimizer("adamw").weight_decay == 1e-2
    assert get_optimizer("rmsprop").lr == 1e-2 and get_optimizer("rmsprop").alpha == 0.99
    assert get_optimizer("adagrad").eps == 1e-10
    with pytest.raises(ValueError, match="unknown optimizer"):
        get_optimizer("adamax")
    with pytest.raises(ValueError, match="lr must be >= 0"):
        fastbp.SGD(lr=-1.0)
    with pytest.raises(ValueError, match="Nesterov"):
        fastbp.SGD(lr=0.1, nesterov=True)


def test_changed_hyperparameters_are_checked_and_momentum_can_be_turned_on(rng):
    X, y = rng.normal(size=(40, 3)), rng.normal(size=(40, 1))
    net = fastbp.MLP([3, 8, 1], dtype="float64", seed=0)
    reference, params = ref.SGD(lr=0.01), net.params.copy()
    opt = fastbp.SGD(lr=0.01)
    net.fit(X, y, epochs=1, batch_size=40, optimizer=opt, shuffle=False)
    opt.momentum = 0.9  # as torch users edit param_groups
    net.fit(X, y, epochs=2, batch_size=40, optimizer=opt, shuffle=False)
    # torch's rule: a momentum buffer that did not exist starts at the gradient of its first step
    for epoch in range(3):
        reference.momentum = 0.9 if epoch else 0.0
        params = reference.step(params, _reference_gradient(net, params, X, y))
    np.testing.assert_allclose(net.params, params, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(opt.state[0], reference.buf, rtol=1e-12, atol=1e-15)
    opt.lr = -1.0
    with pytest.raises(ValueError, match="lr must be >= 0"):
        net.fit(X, y, epochs=1, optimizer=opt)
    opt.lr = 0.01
    with pytest.raises(ValueError, match="already holds state"):
        fastbp.MLP([3, 9, 1], dtype="float64").fit(X, y, epochs=1, optimizer=opt)
