"""The MLP API: the flat buffer, predict, fit's loop, seeds, schedules, early stopping, input checks."""

import pickle

import numpy as np
import pytest
import reference as ref

import fastbp
from fastbp import schedules


def test_params_is_one_buffer_and_layers_are_views():
    net = fastbp.MLP([5, 7, 3, 2])
    assert net.params.ndim == 1 and net.params.flags.c_contiguous
    assert net.params.size == 5 * 7 + 7 + 7 * 3 + 3 + 3 * 2 + 2
    assert [w.shape for w in net.coefs_] == [(5, 7), (7, 3), (3, 2)]
    assert [b.shape for b in net.intercepts_] == [(7,), (3,), (2,)]
    for view in net.coefs_ + net.intercepts_:
        assert np.shares_memory(view, net.params)
    net.coefs_[1][2, 1] = 42.0
    assert net.params[5 * 7 + 7 + 2 * 3 + 1] == 42.0


def test_initialisation_is_seeded_and_scaled():
    a, b, c = (
        fastbp.MLP([50, 40, 3], seed=1),
        fastbp.MLP([50, 40, 3], seed=1),
        fastbp.MLP([50, 40, 3], seed=2),
    )
    np.testing.assert_array_equal(a.params, b.params)
    assert not np.array_equal(a.params, c.params)
    # He-uniform after relu: limit sqrt(6/50); Glorot-uniform before the identity output: sqrt(6/43)
    assert 0.9 * np.sqrt(6 / 50) < np.abs(a.coefs_[0]).max() <= np.sqrt(6 / 50)
    assert 0.9 * np.sqrt(6 / 43) < np.abs(a.coefs_[1]).max() <= np.sqrt(6 / 43)
    tanh = fastbp.MLP([50, 40, 3], activation="tanh", seed=1)
    assert np.abs(tanh.coefs_[0]).max() <= np.sqrt(6 / 90)
    assert all((bias == 0).all() for bias in a.intercepts_)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss,n_out", [("mse", 1), ("cross_entropy", 4), ("binary_cross_entropy", 3)])
def test_predict_matches_reference_forward(loss, n_out, dtype, rng):
    acts = ["gelu", "elu"]
    net = fastbp.MLP([6, 9, 5, n_out], activation=acts, loss=loss, dtype=dtype, seed=0)
    X = rng.normal(size=(11, 6))
    out = net.predict(X)
    assert out.shape == (11, n_out) and out.dtype == np.dtype(dtype)
    h = X
    for w, b, act in zip(net.coefs_, net.intercepts_, acts + ["identity"]):
        h = ref.activation(act, h @ w.astype(np.float64) + b)
    if loss == "cross_entropy":
        h = np.exp(ref.log_softmax(h))
        np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-5)
    elif loss == "binary_cross_entropy":
        h = ref.sigmoid(h)
    tol = {"rtol": 1e-4, "atol": 1e-5} if dtype == "float32" else {"rtol": 1e-10, "atol": 1e-12}
    np.testing.assert_allclose(out, h, **tol)


def test_predict_one_row_one_feature_and_many_chunks(rng):
    """10,000 rows go through in several chunks; each row, and one row alone, equals NumPy's forward."""
    net = fastbp.MLP([1, 3, 1], activation="tanh", dtype="float64", seed=0)
    net.intercepts_[0][:] = [0.3, -0.2, 0.1]
    X = rng.normal(size=(10_000, 1))
    expected = (
        ref.activation("tanh", X @ net.coefs_[0] + net.intercepts_[0]) @ net.coefs_[1] + net.intercepts_[1]
    )
    full = net.predict(X)
    assert full.shape == (10_000, 1)
    np.testing.assert_allclose(full, expected, rtol=1e-12, atol=1e-15)
    np.testing.assert_allclose(net.predict(X[5:6]), expected[5:6], rtol=1e-12, atol=1e-15)


# logits rows: one huge, two huge and equal, all equal, all hugely negative, mixed
EXTREME_LOGITS = np.array([[1, 0, -1], [1, 1, -1], [0, 0, 0], [-1, -1, -1], [-1, 0, -1]], dtype=np.float64)


@pytest.mark.parametrize("dtype,big", [("float64", 1000.0), ("float32", 100.0)])
def test_predict_output_functions_at_huge_logits(dtype, big):
    """Softmax and sigmoid of logits of +-1000 (float64) and +-100 (float32) are finite and exact.

    Without the max shift exp(1000) overflows and the softmax row becomes NaN.
    """
    logits = big * EXTREME_LOGITS
    X = np.eye(5)  # row i of X selects row i of W: the output layer's logits are exactly `logits`
    softmax = fastbp.MLP([5, 3], loss="cross_entropy", dtype=dtype)
    softmax.coefs_[0][:] = logits
    softmax.intercepts_[0][:] = 0.0
    out = softmax.predict(X)
    expected = np.exp(ref.log_softmax(logits))
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, expected, rtol=1e-6, atol=1e-30)
    np.testing.assert_allclose(out.sum(axis=1), 1.0, rtol=1e-6)
    sigmoid = fastbp.MLP([5, 3], loss="binary_cross_entropy", dtype=dtype)
    sigmoid.coefs_[0][:] = logits
    sigmoid.intercepts_[0][:] = 0.0
    out = sigmoid.predict(X)
    assert np.isfinite(out).all()
    np.testing.assert_allclose(out, ref.sigmoid(logits), rtol=1e-6, atol=1e-30)
    # the loss at these logits is finite too, and equals the reference's
    labels = np.array([0, 1, 2, 0, 1])
    value = softmax.evaluate(X, labels)
    assert value == pytest.approx(ref.loss("cross_entropy", logits, labels)[0], rel=1e-6)


def test_fit_without_shuffle_is_the_plain_minibatch_loop(rng):
    """shuffle=False: consecutive slices, last partial batch used, each step on its batch's mean loss."""
    X, y = rng.normal(size=(23, 4)), rng.normal(size=(23, 2))
    net = fastbp.MLP([4, 6, 2], activation="tanh", dtype="float64", seed=1)
    manual = net.copy()
    hist = net.fit(X, y, epochs=2, batch_size=10, optimizer=fastbp.SGD(lr=0.1), shuffle=False)
    losses = []
    for _ in range(2):
        total = 0.0
        for start in (0, 10, 20):
            loss, grad = manual.loss_grad(X[start : start + 10], y[start : start + 10])
            total += loss * len(X[start : start + 10])
            manual.params -= 0.1 * grad
        losses.append(total / 23)
    np.testing.assert_allclose(net.params, manual.params, rtol=1e-12)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-12)


def test_fit_with_shuffle_visits_every_row_once_per_epoch(rng):
    """With plain SGD and batch = all rows the order cannot matter: shuffled equals unshuffled."""
    X, y = rng.normal(size=(17, 3)), rng.integers(0, 3, size=17)
    a = fastbp.MLP([3, 5, 3], loss="cross_entropy", dtype="float64", seed=0)
    b = a.copy()
    a.fit(X, y, epochs=3, batch_size=17, optimizer=fastbp.SGD(lr=0.5), shuffle=True)
    b.fit(X, y, epochs=3, batch_size=17, optimizer=fastbp.SGD(lr=0.5), shuffle=False)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9)


def test_same_seed_same_run_and_different_seed_different_run(rng):
    X, y = rng.normal(size=(200, 5)).astype(np.float32), rng.integers(0, 3, size=200)

    def run(fit_seed):
        net = fastbp.MLP([5, 16, 3], loss="cross_entropy", dropout=0.2, seed=7)
        net.fit(X, y, epochs=3, batch_size=16, seed=fit_seed)
        net.fit(X, y, epochs=2, batch_size=16, seed=fit_seed)
        return net.params

    np.testing.assert_array_equal(run(None), run(None))
    np.testing.assert_array_equal(run(3), run(3))
    assert not np.array_equal(run(3), run(4))


@pytest.mark.parametrize("sizes,activation,batch", [([4, 32, 16, 4], "tanh", 500), ([6, 40, 3], "relu", 16)])
def test_repeated_fits_reuse_work_buffers_without_changing_results(sizes, activation, batch, rng):
    """A fit reuses the last fit's buffers when it needs the same ones, with the weights of new buffers."""
    X = rng.normal(size=(700, sizes[0]))
    y = rng.normal(size=(700, sizes[-1]))
    reused = fastbp.MLP(sizes, activation=activation, dtype="float64", seed=3)
    fresh = fastbp.MLP(sizes, activation=activation, dtype="float64", seed=3)
    kept = []
    for seed, batch_size in [(0, batch), (1, batch), (2, 33), (3, batch)]:
        reused.fit(X, y, epochs=1, batch_size=batch_size, seed=seed, optimizer="adam")
        kept.append(reused._kept_workspace[1])
        fresh.__dict__.pop("_kept_workspace", None)
        fresh.fit(X, y, epochs=1, batch_size=batch_size, seed=seed, optimizer="adam")
        np.testing.assert_array_equal(reused.params, fresh.params)
    assert kept[0] is kept[1] and kept[2] is not kept[1] and kept[3] is not kept[1]
    assert "_kept_workspace" not in pickle.loads(pickle.dumps(reused)).__dict__


def test_large_work_buffers_are_not_kept_after_fit(rng, monkeypatch):
    monkeypatch.setattr(fastbp.sequential, "KEPT_WORKSPACE_BYTES", 1000)
    net = fastbp.MLP([5, 8, 1], seed=0)
    net.fit(rng.normal(size=(100, 5)), rng.normal(size=100), epochs=1)
    assert "_kept_workspace" not in net.__dict__


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_fit_learns_a_classification_problem(dtype):
    from fastbp.datasets import make_spirals

    X, y = make_spirals(n_per_class=300, seed=1)
    net = fastbp.MLP([2, 32, 32, 3], loss="cross_entropy", dtype=dtype, seed=0)
    start = net.params.astype(np.float64)
    # the first two epochs step for step with the NumPy reference trainer (a wrong gradient
    # scale or a wrong Adam step would show here even though Adam would still learn)
    two = net.copy()
    hist = two.fit(X, y, epochs=2, batch_size=32, optimizer=fastbp.Adam(lr=1e-2))
    expected, losses = ref.train([2, 32, 32, 3], start, ["relu", "relu"], "identity", "cross_entropy", X, y,
                                 ref.Adam(lr=1e-2), 2, 32, seed=0)  # fmt: skip
    tol = {"rtol": 1e-9, "atol": 1e-12} if dtype == "float64" else {"rtol": 0, "atol": 1e-4}
    np.testing.assert_allclose(two.params, expected, **tol)
    np.testing.assert_allclose(hist.loss, losses, **tol)
    hist = net.fit(X, y, epochs=60, batch_size=32, optimizer=fastbp.Adam(lr=1e-2))
    # measured: the loss falls from 0.75 to 0.083 and 97.4% of the rows are right, in both dtypes
    assert hist.loss[-1] < 0.15 * hist.loss[0]
    assert (net.predict(X).argmax(axis=1) == y).mean() > 0.95


@pytest.mark.parametrize("loss", ["mse", "mae", "huber"])
def test_fit_learns_a_regression_with_1d_targets(loss, rng):
    X = rng.uniform(-2, 2, size=(512, 1))
    y = np.sin(X[:, 0])
    net = fastbp.MLP([1, 32, 1], activation="tanh", loss=loss, dtype="float64", seed=0)
    start = net.params.copy()
    hist = net.fit(X, y, epochs=3, batch_size=32, optimizer=fastbp.Adam(lr=1e-2))
    expected, losses = ref.train([1, 32, 1], start, ["tanh"], "identity", loss, X, y[:, None],
                                 ref.Adam(lr=1e-2), 3, 32, seed=0)  # fmt: skip
    np.testing.assert_allclose(net.params, expected, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hist.loss, losses, rtol=1e-10)
    net.fit(X, y, epochs=147, batch_size=32, optimizer=fastbp.Adam(lr=1e-2))
    # measured: a mean absolute error of 0.013-0.015 for the three losses
    assert np.abs(net.predict(X)[:, 0] - y).mean() < 0.03


def test_binary_cross_entropy_multilabel(rng):
    X = rng.normal(size=(400, 4))
    Y = np.stack([X[:, 0] > 0, X[:, 1] + X[:, 2] > 0], axis=1).astype(np.float64)
    net = fastbp.MLP([4, 16, 2], loss="binary_cross_entropy", dtype="float64", seed=0)
    net.fit(X, Y, epochs=60, batch_size=20, optimizer=fastbp.Adam(lr=1e-2))
    proba = net.predict(X)
    assert ((proba > 0.5) == Y).mean() > 0.95


def test_dropout_is_seeded_in_fit_and_off_in_predict(rng):
    X, y = rng.normal(size=(64, 4)), rng.normal(size=(64, 1))
    net = fastbp.MLP([4, 32, 1], dropout=0.5, dtype="float64", seed=0)
    np.testing.assert_array_equal(net.predict(X), net.predict(X))
    plain = fastbp.MLP([4, 32, 1], dtype="float64", seed=0)
    np.testing.assert_array_equal(net.predict(X), plain.predict(X))
    a, b = net.copy(), plain.copy()
    a.fit(X, y, epochs=1, batch_size=64, optimizer=fastbp.SGD(lr=0.1), shuffle=False)
    b.fit(X, y, epochs=1, batch_size=64, optimizer=fastbp.SGD(lr=0.1), shuffle=False)
    # the step is the reference's with fit's documented mask (64 rows: the parallel chunked path)
    for trained, rates in ((a, [0.5]), (b, [0.0])):
        expected, _ = ref.train([4, 32, 1], net.params, ["relu"], "identity", "mse", X, y, ref.SGD(lr=0.1),
                                1, 64, shuffle=False, seed=0, rates=rates)  # fmt: skip
        np.testing.assert_allclose(trained.params, expected, rtol=1e-10, atol=1e-13)
    assert np.max(np.abs(a.params - b.params)) > 1e-3  # the mask took part in training


def test_validation_loss_and_evaluate(rng):
    X, y = rng.normal(size=(100, 3)), rng.normal(size=(100, 2))
    Xv, yv = rng.normal(size=(31, 3)), rng.normal(size=(31, 2))
    net = fastbp.MLP([3, 8, 2], dtype="float64", seed=0)
    hist = net.fit(X, y, epochs=3, batch_size=8, validation_data=(Xv, yv))
    assert len(hist.loss) == len(hist.val_loss) == 3
    assert hist.val_loss[-1] == pytest.approx(net.evaluate(Xv, yv), rel=1e-12)
    assert net.evaluate(Xv, yv) == pytest.approx(((net.predict(Xv) - yv) ** 2).mean(), rel=1e-10)


def test_early_stopping_restores_the_best_weights(rng):
    X, y = rng.normal(size=(40, 5)), rng.normal(size=(40, 1))
    Xv, yv = rng.normal(size=(40, 5)), rng.normal(size=(40, 1))  # unrelated: overfitting is certain
    net = fastbp.MLP([5, 64, 1], dtype="float64", seed=0)
    hist = net.fit(
        X, y, epochs=500, batch_size=8, optimizer=fastbp.Adam(lr=1e-2), validation_data=(Xv, yv), patience=5
    )
    assert hist.stopped_early and len(hist.val_loss) < 500
    assert hist.best_epoch == int(np.argmin(hist.val_loss))
    assert len(hist.val_loss) == hist.best_epoch + 1 + 5
    assert net.evaluate(Xv, yv) == pytest.approx(min(hist.val_loss), rel=1e-12)


def test_lr_schedules():
    assert schedules.StepDecay(2, 0.5).lr(5, 1.0) == 0.25
    assert schedules.Exponential(0.9).lr(2, 1.0) == pytest.approx(0.81)
    cosine = schedules.get_schedule("cosine", epochs=10)
    assert cosine.lr(0, 1.0) == 1.0 and cosine.lr(5, 1.0) == pytest.approx(0.5) and cosine.lr(10, 1.0) < 1e-12
    assert schedules.InverseScaling(0.5).lr(3, 1.0) == 0.5
    plateau = schedules.ReduceOnPlateau(factor=0.5, patience=1)
    for epoch, metric in enumerate([1.0, 0.5, 0.6, 0.7, 0.4]):
        plateau.observe(epoch, metric)
    assert plateau.lr(5, 1.0) == 0.5  # two bad epochs after 0.5 exceeded patience 1, once
    with pytest.raises(ValueError, match="unknown lr_schedule"):
        schedules.get_schedule("warmup", 3)


def test_fit_applies_the_schedule_per_epoch(rng):
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 1))
    net = fastbp.MLP([3, 4, 1], dtype="float64", seed=0)
    manual = net.copy()
    hist = net.fit(
        X,
        y,
        epochs=3,
        batch_size=20,
        optimizer=fastbp.SGD(lr=0.1),
        lr_schedule=schedules.StepDecay(1, 0.5),
        shuffle=False,
    )
    assert hist.lr == [0.1, 0.05, 0.025]
    for lr in hist.lr:
        manual.params -= lr * manual.loss_grad(X, y)[1]
    np.testing.assert_allclose(net.params, manual.params, rtol=1e-12)


def test_float32_input_is_used_without_a_copy(rng):
    from fastbp.validation import check_features

    X = rng.normal(size=(5, 3)).astype(np.float32)
    assert check_features(X, 3, np.float32) is X
    assert check_features(X, 3, np.float64) is not X
    fortran = np.asfortranarray(X)
    result = check_features(fortran, 3, np.float32)
    assert result.flags.c_contiguous
    np.testing.assert_array_equal(result, X)


def test_divergence_raises_and_keeps_finite_weights(rng):
    X, y = rng.normal(size=(64, 3)), rng.normal(size=(64, 1)) * 1e3
    net = fastbp.MLP([3, 16, 16, 1], dtype="float64", seed=0)
    with pytest.raises(fastbp.TrainingDiverged, match="epoch"):
        net.fit(X, y, epochs=50, batch_size=8, optimizer=fastbp.SGD(lr=10.0))
    assert np.isfinite(net.params).all()


@pytest.mark.parametrize(
    "kwargs,message",
    [
        ({"sizes": [3]}, "sizes"),
        ({"sizes": [3, 0, 1]}, "sizes"),
        ({"sizes": [3, 2], "activation": "relu6"}, "unknown activation"),
        ({"sizes": [3, 4, 2], "activation": ["relu", "tanh"]}, "2 entries for 1 hidden"),
        ({"sizes": [3, 2], "loss": "hinge"}, "unknown loss"),
        ({"sizes": [3, 2], "loss": "cross_entropy", "output": "sigmoid"}, "implies output"),
        ({"sizes": [3, 2], "dtype": "float16"}, "dtype"),
        ({"sizes": [3, 4, 2], "dropout": 1.0}, "dropout"),
        ({"sizes": [3, 2], "alpha": -1}, "alpha"),
        ({"sizes": [3, 2], "seed": -3}, "seed"),
    ],
)
def test_bad_construction_is_refused(kwargs, message):
    sizes = kwargs.pop("sizes")
    with pytest.raises(ValueError, match=message):
        fastbp.MLP(sizes, **kwargs)


def test_bad_data_is_refused_before_any_work(rng):
    net = fastbp.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    before = net.params.copy()
    X, y = rng.normal(size=(10, 3)), rng.integers(0, 2, size=10)
    bad = [
        ((X[:, :2], y), "features"),
        ((X[0], y), "2-D"),
        ((X, y[:9]), "rows"),
        ((X, y + 1), "labels must lie"),
        ((np.where(X > 1, np.nan, X), y), "NaN"),
        ((X.astype(str), y), "real numbers"),
        ((X[:0], y[:0]), "no rows"),
    ]
    for args, message in bad:
        with pytest.raises((ValueError, TypeError), match=message):
            net.fit(*args, epochs=1)
    for kwargs, message in [
        ({"epochs": 0}, "epochs"),
        ({"batch_size": 2.5}, "batch_size"),
        ({"optimizer": "nadam"}, "optimizer"),
        ({"patience": 3}, "validation_data"),
    ]:
        with pytest.raises(ValueError, match=message):
            net.fit(X, y, **kwargs)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("alpha", [0.0, 0.1])
def test_integer_sample_weights_equal_repeated_rows(alpha, rng):
    """Full-batch gradient descent: weight 2 on a row is that row twice (L2 term included)."""
    X = rng.normal(size=(9, 3))
    y = rng.integers(0, 3, size=9)
    w = rng.integers(0, 4, size=9)
    w[0] = 1
    repeated = np.repeat(np.arange(9), w)
    a = fastbp.MLP([3, 5, 3], loss="cross_entropy", dtype="float64", alpha=alpha, seed=1)
    b = a.copy()
    a.fit(X, y, epochs=5, batch_size=9, optimizer=fastbp.SGD(lr=0.1), shuffle=False, sample_weight=w)
    b.fit(X[repeated], y[repeated], epochs=5, batch_size=len(repeated), optimizer=fastbp.SGD(lr=0.1),
          shuffle=False)  # fmt: skip
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("batch_size", [7, 64])
def test_unit_sample_weights_change_nothing(batch_size, rng):
    X = rng.normal(size=(150, 4)).astype(np.float32)
    y = rng.normal(size=(150, 2)).astype(np.float32)
    a = fastbp.MLP([4, 8, 2], seed=2)
    b = a.copy()
    a.fit(X, y, epochs=2, batch_size=batch_size)
    b.fit(X, y, epochs=2, batch_size=batch_size, sample_weight=np.ones(150))
    np.testing.assert_array_equal(a.params, b.params)


@pytest.mark.parametrize("batch_size", [10, 64])
def test_sample_weights_scale_free_and_reported_loss(batch_size, rng):
    """Without L2, multiplying every weight by 3 changes nothing; the loss is the weighted mean."""
    X = rng.normal(size=(150, 4))
    y = rng.normal(size=(150, 2))
    w = rng.uniform(0.5, 2.0, size=150)
    a = fastbp.MLP([4, 8, 2], seed=2, dtype="float64")
    b = a.copy()
    ha = a.fit(X, y, epochs=2, batch_size=batch_size, sample_weight=w)
    hb = b.fit(X, y, epochs=2, batch_size=batch_size, sample_weight=3 * w)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-10, atol=1e-12)
    np.testing.assert_allclose(ha.loss, hb.loss, rtol=1e-10)
    rows = np.array([a.evaluate(X[i : i + 1], y[i : i + 1]) for i in range(150)])
    assert a.evaluate(X, y, sample_weight=w) == pytest.approx(np.dot(w, rows) / w.sum(), rel=1e-12)


@pytest.mark.parametrize(
    "weights,message",
    [([1.0, 2.0], "shape"), (np.full(6, -1.0), ">= 0"), (np.zeros(6), "positive sum"), (["a"] * 6, "real")],
)
def test_bad_sample_weights_are_refused(weights, message, rng):
    net = fastbp.MLP([2, 3, 1])
    with pytest.raises((ValueError, TypeError), match=message):
        net.fit(rng.normal(size=(6, 2)), rng.normal(size=6), sample_weight=weights)


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
@pytest.mark.parametrize("rows", [1, 70, 5000])
def test_predict_refuses_nan_and_inf_before_computing(bad, rows, rng):
    """predict checks X in its compiled call (one call fewer on a one-row predict): same error, no output."""
    net = fastbp.MLP([3, 5, 2], loss="cross_entropy", seed=0)
    X = rng.normal(size=(rows, 3)).astype(np.float32)
    X[rows // 2, 1] = bad
    with pytest.raises(ValueError, match="X contains NaN or inf"):
        net.predict(X)
    X[rows // 2, 1] = 0.0
    assert np.isfinite(net.predict(X)).all()
