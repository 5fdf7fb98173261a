"""What fastbp promises when things go wrong: bad input, interrupted fits, threads and processes."""

import json
import multiprocessing
import os
import pathlib
import subprocess
import sys
import textwrap

import numpy as np
import pytest
import reference as ref
from conftest import Interrupted, interrupt_after

import fastbp
from fastbp import io

ROOT = pathlib.Path(__file__).resolve().parent.parent


@pytest.mark.parametrize(
    "sizes,batch,options",
    [
        ([5, 16, 3], 8, {"lr_schedule": "plateau"}),  # serial BLAS path
        ([5, 12, 8, 3], 64, {"lr_schedule": "cosine"}),  # parallel chunked path
        ([5, 16, 3], 10, {"patience": 50, "lr_schedule": "step"}),  # early stopping state carried over
    ],
)
def test_resume_reaches_the_same_weights_bit_for_bit(sizes, batch, options, tmp_path, rng):
    X = rng.normal(size=(300, 5))
    y = rng.integers(0, 3, size=300)
    val = (rng.normal(size=(40, 5)), rng.integers(0, 3, size=40))
    kwargs = dict(epochs=7, batch_size=batch, validation_data=val, **options)
    make = lambda: fastbp.MLP(sizes, loss="cross_entropy", dropout=0.1, seed=4)  # noqa: E731

    whole = make()
    history = whole.fit(X, y, optimizer=fastbp.Adam(lr=0.01), **kwargs)

    path = tmp_path / "run.ckpt"
    broken = make()
    with pytest.raises(Interrupted):
        broken.fit(X, y, optimizer=fastbp.Adam(lr=0.01), checkpoint=path, checkpoint_every=2,
                   callbacks=[interrupt_after(5)], **kwargs)  # fmt: skip
    # the last checkpoint was written after epoch 4; a new process would start from the file
    resumed = fastbp.load(path)
    assert resumed.epochs_trained == 4
    resumed_history = resumed.fit(X, y, resume=path, **kwargs)  # the optimizer comes from the file
    np.testing.assert_array_equal(resumed.params, whole.params)
    assert resumed_history.loss == history.loss
    assert resumed_history.val_loss == history.val_loss
    assert resumed.epochs_trained == whole.epochs_trained


def test_resume_refuses_what_would_not_be_the_same_run(tmp_path, rng):
    X, y = rng.normal(size=(50, 3)), rng.normal(size=50)
    net = fastbp.MLP([3, 4, 1])
    path = tmp_path / "run.ckpt"
    net.fit(X, y, epochs=2, batch_size=10, checkpoint=path)
    with pytest.raises(ValueError, match="batch_size"):
        fastbp.MLP([3, 4, 1]).fit(X, y, epochs=3, batch_size=5, resume=path)
    with pytest.raises(ValueError, match="different network"):
        fastbp.MLP([3, 5, 1]).fit(X, y, epochs=3, batch_size=10, resume=path)
    with pytest.raises(ValueError, match="SGD"):
        fastbp.MLP([3, 4, 1]).fit(X, y, epochs=3, batch_size=10, resume=path, optimizer=fastbp.SGD())
    net.save(tmp_path / "plain.fbp")
    with pytest.raises(io.ModelFileError, match="not a checkpoint"):
        fastbp.MLP([3, 4, 1]).fit(X, y, epochs=3, batch_size=10, resume=tmp_path / "plain.fbp")


def _resealed(src, dst, edit):
    """Copy the checkpoint ``src`` to ``dst`` with ``edit(checkpoint_fields, arrays)`` applied.

    The file is written by ``io.write``, so its checksum is right and only ``restore``'s own
    checks can object to it.
    """
    stored = io.read(src)
    extra = json.loads(json.dumps(stored.header["extra"]))
    arrays = {name: np.array(a) for name, a in stored.arrays.items()}
    edit(extra["checkpoint"], arrays)
    io.write(dst, fastbp.load(src), extra, arrays)


REFUSED_RESUMES = {
    "another schedule": (None, {"lr_schedule": "step"}, ValueError, "used the Cosine schedule"),
    "unknown optimizer class": (
        lambda ckpt, arrays: ckpt["optimizer"].update({"class": "Newton"}), {}, io.ModelFileError,
        "unknown optimizer 'Newton'",
    ),
    "no optimizer state": (
        lambda ckpt, arrays: arrays.pop("optimizer_state"), {}, io.ModelFileError, "no optimizer_state",
    ),
    "optimizer state of the wrong shape": (
        lambda ckpt, arrays: arrays.update(optimizer_state=arrays["optimizer_state"][:1]), {},
        io.ModelFileError, r"optimizer_state has shape \(1, 21\), the fit needs \(2, 21\)",
    ),
    "optimizer state one parameter short": (
        lambda ckpt, arrays: arrays.update(optimizer_state=arrays["optimizer_state"][:, 1:]), {},
        io.ModelFileError, "optimizer_state has shape",
    ),
    "params of the wrong shape": (
        lambda ckpt, arrays: arrays.update(params=arrays["params"][:1]), {}, io.ModelFileError,
        "params has shape",
    ),
    "malformed history": (
        lambda ckpt, arrays: ckpt["history"].update(unknown_field=[]), {}, io.ModelFileError,
        "malformed checkpoint",
    ),
    "history of text": (
        lambda ckpt, arrays: ckpt["history"].update(loss=["0.5"]), {}, io.ModelFileError, "'loss'",
    ),
    "epoch as text": (lambda ckpt, arrays: ckpt.update(epoch="3"), {}, io.ModelFileError, "epoch must be"),
    "negative seed": (lambda ckpt, arrays: ckpt.update(fit_seed=-1), {}, io.ModelFileError, "fit_seed must"),
    "schedule state with another field": (
        lambda ckpt, arrays: ckpt["schedule"]["state"].update(lr="not a method"), {}, io.ModelFileError,
        "schedule state must hold",
    ),
}  # fmt: skip


@pytest.mark.parametrize("edit,options,error,message", REFUSED_RESUMES.values(), ids=REFUSED_RESUMES.keys())
def test_a_refused_resume_changes_nothing(edit, options, error, message, tmp_path, rng):
    """Everything is checked before anything changes: the weights, the caller's optimizer and its steps."""
    X, y = rng.normal(size=(60, 3)), rng.normal(size=60)
    path = tmp_path / "run.ckpt"
    fastbp.MLP([3, 4, 1], seed=5).fit(
        X, y, epochs=3, batch_size=10, optimizer=fastbp.Adam(lr=0.01), lr_schedule="cosine", checkpoint=path
    )
    if edit is not None:
        _resealed(path, tmp_path / "edited.ckpt", edit)
        path = tmp_path / "edited.ckpt"
    net = fastbp.MLP([3, 4, 1], seed=5)
    optimizer = fastbp.Adam(lr=0.01)
    net.fit(X[:20], y[:20], epochs=1, batch_size=10, optimizer=optimizer)  # a state unlike the file's
    params, state, steps = net.params.copy(), optimizer.state.copy(), optimizer.step_count
    kwargs = {"lr_schedule": "cosine", **options}
    with pytest.raises(error, match=message):
        net.fit(X, y, epochs=6, batch_size=10, optimizer=optimizer, resume=path, **kwargs)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(optimizer.state, state)
    assert optimizer.step_count == steps and net.epochs_trained == 1


def test_divergence_with_early_stopping_keeps_the_best_epochs_weights(rng):
    """Val loss falls for some epochs, then a huge learning rate makes the loss overflow."""
    X = rng.normal(size=(200, 3)).astype(np.float32)
    y = X @ np.array([1.0, -2.0, 0.5], dtype=np.float32)
    val = (X[:50] + 0.1, y[:50])
    net = fastbp.MLP([3, 8, 1], seed=1)
    seen = []

    def record_then_blow_up(info):
        seen.append((info["val_loss"], info["net"].params.copy()))
        if info["epoch"] == 5:
            info["optimizer"].lr = 1e30  # for the next epoch

    with pytest.raises(fastbp.TrainingDiverged) as caught:
        net.fit(X, y, epochs=30, batch_size=20, optimizer=fastbp.SGD(lr=0.01), validation_data=val,
                patience=20, callbacks=[record_then_blow_up])  # fmt: skip
    assert len(seen) == 6 and caught.value.epoch == 6
    val_losses = [v for v, _ in seen]
    best = int(np.argmin(val_losses))
    assert best >= 2 and val_losses[best] < val_losses[0]  # it did improve for a few epochs
    assert f"kept the best weights (epoch {best})" in str(caught.value)
    np.testing.assert_array_equal(net.params, seen[best][1])


def test_clip_norm_limits_each_step(rng):
    X, y = rng.normal(size=(20, 3)), rng.normal(size=(20, 2)) * 10
    net = fastbp.MLP([3, 6, 2], dtype="float64", seed=1)
    before = net.params.copy()
    _, grad = net.loss_grad(X, y)
    assert np.linalg.norm(grad) > 0.5
    net.fit(X, y, epochs=1, batch_size=20, shuffle=False, optimizer=fastbp.SGD(lr=1.0), clip_norm=0.5)
    np.testing.assert_allclose(
        net.params, before - grad * (0.5 / (np.linalg.norm(grad) + 1e-6)), rtol=1e-12, atol=1e-15
    )
    loose = fastbp.MLP([3, 6, 2], dtype="float64", seed=1)
    loose.fit(X, y, epochs=1, batch_size=20, shuffle=False, optimizer=fastbp.SGD(lr=1.0), clip_norm=1e6)
    np.testing.assert_array_equal(loose.params, before - grad)
    with pytest.raises(ValueError, match="clip_norm"):
        net.fit(X, y, clip_norm=-1.0)


DETERMINISM_SCRIPT = textwrap.dedent(
    """
    import hashlib, numpy as np, fastbp
    rng = np.random.default_rng(0)
    X = rng.normal(size=(1001, 40)).astype(np.float32)
    y = rng.integers(0, 5, size=1001)
    net = fastbp.MLP([40, 300, 5], loss="cross_entropy", seed=1)
    net.fit(X, y, epochs=2, batch_size=100, deterministic={deterministic})
    print(hashlib.sha256(net.params.tobytes()).hexdigest())
    """
)


def _weights_digest(deterministic, numba_threads, blas_threads):
    env = dict(os.environ, NUMBA_NUM_THREADS=str(numba_threads), OPENBLAS_NUM_THREADS=str(blas_threads))
    env.pop("OMP_NUM_THREADS", None)
    result = subprocess.run(
        [sys.executable, "-c", DETERMINISM_SCRIPT.format(deterministic=deterministic)],
        capture_output=True, text=True, env=env, timeout=300,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_deterministic_fit_is_bit_identical_for_1_2_and_4_threads():
    """deterministic=True: any fastbp and any BLAS thread count gives the same bits."""
    digests = {_weights_digest(True, n, n) for n in (1, 2, 4)}
    assert len(digests) == 1


def test_default_fit_is_bit_identical_for_any_fastbp_thread_count_with_one_blas_setting():
    """The default promise: the fastbp thread count never changes the bits (BLAS settings fixed)."""
    digests = {_weights_digest(False, n, 2) for n in (1, 2, 4)}
    assert len(digests) == 1


def test_deterministic_and_blas_paths_agree_closely(rng):
    X = rng.normal(size=(200, 30))
    y = rng.integers(0, 4, size=200)
    a = fastbp.MLP([30, 64, 4], loss="cross_entropy", dtype="float64", seed=2)
    b = a.copy()
    a.fit(X, y, epochs=3, batch_size=50)
    b.fit(X, y, epochs=3, batch_size=50, deterministic=True)
    np.testing.assert_allclose(a.params, b.params, rtol=1e-9, atol=1e-12)


def _fit_params(X, y):
    net = fastbp.MLP([5, 7, 1], seed=3)
    net.fit(X, y, epochs=2, batch_size=16)
    return net.params


def test_any_memory_layout_gives_the_same_weights(tmp_path, rng):
    base = rng.normal(size=(64, 10)).astype(np.float32)
    y = rng.normal(size=64).astype(np.float32)
    expected = _fit_params(np.ascontiguousarray(base[:, ::2]), y)
    fortran = np.asfortranarray(base[:, ::2])
    read_only = np.ascontiguousarray(base[:, ::2])
    read_only.flags.writeable = False
    np.save(tmp_path / "X.npy", np.ascontiguousarray(base[:, ::2]))
    mapped = np.load(tmp_path / "X.npy", mmap_mode="r")
    as_float64 = base[:, ::2].astype(np.float64)
    for X in (base[:, ::2], fortran, read_only, mapped, as_float64, base[:, ::2].tolist()):
        np.testing.assert_array_equal(_fit_params(X, y), expected)
    np.testing.assert_array_equal(_fit_params(base[:, ::2], y[::-1].copy()[::-1]), expected)


def _numpy_forward(net, X):
    """The network's outputs by plain NumPy in float64: relu hidden layers, then the output function."""
    a = np.asarray(X, dtype=np.float64)
    coefs = [w.astype(np.float64) for w in net.coefs_]
    intercepts = [b.astype(np.float64) for b in net.intercepts_]
    for w, b in zip(coefs[:-1], intercepts[:-1]):
        a = np.maximum(a @ w + b, 0.0)
    z = a @ coefs[-1] + intercepts[-1]
    if net.loss == "cross_entropy":
        e = np.exp(z - z.max(axis=1, keepdims=True))
        return e / e.sum(axis=1, keepdims=True)
    assert net.output == "identity"
    return z


def _hand_sgd(net, X, y, lr, steps):
    """``steps`` full-batch steps of plain gradient descent from ``net``'s weights, in float64 on the
    reference's backpropagation (not fastbp's gradient)."""
    logits = net.loss in ("cross_entropy", "binary_cross_entropy")
    y = np.asarray(y) if net.loss == "cross_entropy" else np.asarray(y, dtype=np.float64).reshape(len(X), -1)
    params, _ = ref.train(list(net.sizes), net.params, net.activation, "identity" if logits else net.output,
                          net.loss, X, y, ref.SGD(lr=lr), steps, len(X), shuffle=False)  # fmt: skip
    return params


# float32 fits against the float64 reference: float32 rounding of a few steps
STEP_TOLERANCE = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-12, "atol": 1e-14}}


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_one_row_and_one_feature_work(dtype):
    X = np.array([[0.5]])
    net = fastbp.MLP([1, 3, 1], dtype=dtype, seed=4)  # seed 4: every hidden unit active
    initial = net.params.copy()
    expected = _hand_sgd(net, X, np.array([1.0]), 0.1, 3)
    net.fit(X, np.array([1.0]), epochs=3, batch_size=1, optimizer=fastbp.SGD(lr=0.1))
    assert not np.array_equal(net.params, initial)
    np.testing.assert_allclose(net.params, expected, **STEP_TOLERANCE[dtype])
    rtol = 1e-6 if dtype == "float32" else 1e-13
    np.testing.assert_allclose(net.predict(X), _numpy_forward(net, X), rtol=rtol)

    classifier = fastbp.MLP([1, 3, 2], loss="cross_entropy", dtype=dtype, seed=4)
    expected = _hand_sgd(classifier, X, np.array([1]), 0.5, 2)
    classifier.fit(X, np.array([1]), epochs=2, optimizer=fastbp.SGD(lr=0.5))  # one batch of one row
    np.testing.assert_allclose(classifier.params, expected, **STEP_TOLERANCE[dtype])
    proba = classifier.predict(X)
    np.testing.assert_allclose(proba, _numpy_forward(classifier, X), rtol=rtol)
    assert proba[0, 1] > 0.5  # two steps towards the only label


@pytest.mark.parametrize(
    "X,y,kwargs,error,message",
    [
        (np.ones((4, 2), dtype=complex), np.ones(4), {}, TypeError, "real numbers"),
        (np.array([["a", "b"]] * 4), np.ones(4), {}, TypeError, "real numbers"),
        (np.array([[object(), 1]] * 4), np.ones(4), {}, TypeError, "real numbers"),
        (np.ones(4), np.ones(4), {}, ValueError, "2-D"),
        (np.ones((4, 2, 1)), np.ones(4), {}, ValueError, "2-D"),
        (np.ones((0, 2)), np.ones(0), {}, ValueError, "no rows"),
        (np.ones((4, 3)), np.ones(4), {}, ValueError, "3 features"),
        (np.full((4, 2), np.nan), np.ones(4), {}, ValueError, "NaN"),
        (np.ones((4, 2)), np.array([1.0, np.inf, 0, 0]), {}, ValueError, "NaN or inf"),
        (np.ones((4, 2)), np.ones(5), {}, ValueError, "rows"),
        (np.ones((4, 2)), np.ones((4, 2)), {}, ValueError, "shape"),
        (np.ones((4, 2)), np.ones(4), {"epochs": 0}, ValueError, "epochs"),
        (np.ones((4, 2)), np.ones(4), {"epochs": 2.5}, ValueError, "epochs"),
        (np.ones((4, 2)), np.ones(4), {"batch_size": -1}, ValueError, "batch_size"),
        (np.ones((4, 2)), np.ones(4), {"optimizer": "newton"}, ValueError, "optimizer"),
    ],
)
def test_bad_input_gets_a_clear_error_before_any_work(X, y, kwargs, error, message):
    net = fastbp.MLP([2, 3, 1])
    before = net.params.copy()
    with pytest.raises(error, match=message):
        net.fit(X, y, **kwargs)
    np.testing.assert_array_equal(net.params, before)


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_the_bad_input_tables_good_case_trains_as_full_batch_sgd(dtype):
    """4 rows, the default batch_size of 32: each of the default 10 epochs is one step on all 4 rows."""
    X, y = np.ones((4, 2)), np.ones(4)
    net = fastbp.MLP([2, 3, 1], dtype=dtype, seed=4)  # seed 4: every hidden unit active
    expected = _hand_sgd(net, X, y, 0.1, 10)
    history = net.fit(X, y, optimizer=fastbp.SGD(lr=0.1))
    assert len(history.loss) == 10
    np.testing.assert_allclose(net.params, expected, **STEP_TOLERANCE[dtype])
    assert history.loss[-1] < history.loss[0]


def test_bad_names_and_rates_are_refused():
    with pytest.raises(ValueError, match="activation"):
        fastbp.MLP([2, 3, 1], activation="swish")
    with pytest.raises(ValueError, match="loss"):
        fastbp.MLP([2, 3, 1], loss="hinge")
    with pytest.raises(ValueError, match="lr"):
        fastbp.Adam(lr=-1e-3)
    with pytest.raises(ValueError, match="labels must lie"):
        fastbp.MLP([2, 3, 3], loss="cross_entropy").fit(np.ones((2, 2)), np.array([0, 3]))
    with pytest.raises(ValueError, match="features"):
        fastbp.MLP([2, 3, 1]).predict(np.ones((2, 5)))


def _train_in_worker(seed):
    rng = np.random.default_rng(seed)
    X = rng.normal(size=(200, 4)).astype(np.float32)
    net = fastbp.MLP([4, 8, 1], seed=seed)
    net.fit(X, X[:, :1] * 2, epochs=2, batch_size=20)
    return net.params


@pytest.mark.parametrize("method", ["fork", "spawn"])
def test_training_in_a_multiprocessing_pool(method):
    if method not in multiprocessing.get_all_start_methods():
        pytest.skip(f"{method} is not available here")
    fastbp.MLP([4, 8, 1]).fit(np.ones((20, 4)), np.ones(20), epochs=1)  # threads started before a fork
    with multiprocessing.get_context(method).Pool(2) as pool:
        results = pool.map(_train_in_worker, [0, 1, 2])
    for seed, params in zip([0, 1, 2], results):
        np.testing.assert_array_equal(params, _train_in_worker(seed))


CACHE_SCRIPT = textwrap.dedent(
    """
    import numpy as np, fastbp
    net = fastbp.MLP([3, 4, 2], loss="cross_entropy", seed=0)
    print(net.predict(np.ones((2, 3)))[0, 0])
    """
)


def test_several_processes_share_a_cold_kernel_cache(tmp_path):
    """Processes that compile into one empty cache folder at the same time all succeed and agree."""
    env = dict(os.environ, NUMBA_CACHE_DIR=str(tmp_path / "cache"))
    for _ in range(2):  # first round writes the cache concurrently, the second reads it
        procs = [
            subprocess.Popen(
                [sys.executable, "-c", CACHE_SCRIPT],
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                text=True,
            )  # fmt: skip
            for _ in range(3)
        ]
        outputs = [p.communicate(timeout=600) for p in procs]
        assert [p.returncode for p in procs] == [0, 0, 0], [err for _, err in outputs]
        assert len({out for out, _ in outputs}) == 1
    assert any((tmp_path / "cache").rglob("*.nbi"))


hypothesis = pytest.importorskip("hypothesis")
from hypothesis import HealthCheck, given, settings  # noqa: E402
from hypothesis import strategies as st  # noqa: E402
from hypothesis.extra import numpy as hnp  # noqa: E402

DOCUMENTED_ERRORS = (ValueError, TypeError, fastbp.TrainingDiverged)
ANY_DTYPE = st.sampled_from(["float16", "float32", "float64", "int8", "int64", "uint8", "bool", "complex64",
                             "U3", "O"])  # fmt: skip


def _arrays(draw, rows):
    dtype = draw(ANY_DTYPE)
    shape = draw(st.sampled_from([(rows, 3), (rows,), (rows, 3, 1), (rows, 2), (0, 3)]))
    if dtype == "O":
        return np.array(draw(st.lists(st.one_of(st.none(), st.floats(), st.text(max_size=2)), min_size=1)),
                        dtype=object)  # fmt: skip
    elements = None
    if np.dtype(dtype).kind == "f":
        elements = st.floats(width=np.dtype(dtype).itemsize * 8, allow_nan=True, allow_infinity=True)
    return draw(hnp.arrays(dtype, shape, elements=elements))


@st.composite
def fit_inputs(draw):
    rows = draw(st.integers(1, 12))
    return _arrays(draw, rows), _arrays(draw, rows), draw(st.sampled_from(["mse", "cross_entropy"]))


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(fit_inputs(), st.integers(-2, 40), st.sampled_from([1, 2, 3.0, 0, None]))
def test_random_input_only_raises_documented_errors(inputs, batch_size, epochs):
    X, y, loss = inputs
    net = fastbp.MLP([3, 4, 2 if loss == "cross_entropy" else 1], loss=loss, seed=0)
    before = net.params.copy()
    try:
        net.fit(X, y, epochs=epochs, batch_size=batch_size)
    except (ValueError, TypeError):
        np.testing.assert_array_equal(net.params, before)  # refused before any work
    except fastbp.TrainingDiverged:
        pass  # the weights from before the failing step
    assert np.isfinite(net.params).all()  # a refused or diverged fit leaves finite weights
    try:
        out = net.predict(X)
    except DOCUMENTED_ERRORS:
        return
    assert out.shape == (len(X), net.sizes[-1])
    _assert_forward_matches_numpy(net, np.asarray(X, dtype=np.float32), out)  # the checked input


def _assert_forward_matches_numpy(net, X, out):
    """``out`` is the float64 NumPy forward pass of ``X`` to float32 rounding of its terms."""
    expected = _numpy_forward(net, X)
    # the size of the terms that are summed: the same pass on absolute values, without the output function
    a = np.abs(X.astype(np.float64))
    for w, b in zip(net.coefs_, net.intercepts_):
        a = a @ np.abs(w.astype(np.float64)) + np.abs(b)
    if not np.all(a < 1e30):
        return  # float32 overflows before this; finiteness is all there is to check
    scale = a.max(axis=1, keepdims=True)  # softmax moves no more than the logits' errors
    assert np.all(np.abs(out - expected) <= 1e-5 * scale + 1e-6), (out, expected)


def test_float32_adam_with_a_gradient_whose_square_overflows_keeps_finite_weights():
    """A gradient entry above ~1.8e19 squares past float32's range; found by the hypothesis test above.

    With LLVM's reassociation Adam's second moment became inf - inf = NaN and fit kept NaN
    weights without raising; the update now steps as torch.optim.Adam does (test_torch_oracle.py).
    """
    X, y = np.array([[0.0, 3.125662e9, 0.0]], dtype=np.float32), np.array([0.0])
    net = fastbp.MLP([3, 4, 1], seed=0)
    loss, grad = net.loss_grad(X, y)
    assert np.isfinite(loss) and np.isfinite(grad).all()
    assert np.abs(grad.astype(np.float64)).max() ** 2 > np.finfo(np.float32).max
    try:
        net.fit(X, y, epochs=1, batch_size=1)
    except fastbp.TrainingDiverged:
        pass
    assert np.isfinite(net.params).all()


def test_resume_after_early_stop_and_with_an_optimizer_name(tmp_path, rng):
    X, y = rng.normal(size=(80, 3)), rng.normal(size=80)
    val = (rng.normal(size=(20, 3)), rng.normal(size=20))
    kwargs = dict(epochs=60, batch_size=10, validation_data=val, patience=2, optimizer="rmsprop")
    whole = fastbp.MLP([3, 8, 1], seed=1)
    history = whole.fit(X, y, checkpoint=tmp_path / "a.ckpt", **kwargs)
    assert history.stopped_early and len(history.loss) < 60
    resumed = fastbp.MLP([3, 8, 1], seed=1)
    again = resumed.fit(X, y, resume=tmp_path / "a.ckpt", **kwargs)  # a finished fit stays finished
    assert len(again.loss) == len(history.loss)
    np.testing.assert_array_equal(resumed.params, whole.params)


def test_weighted_chunked_path_equals_repeated_rows(rng):
    """Full-batch SGD on the parallel chunked path: integer weights count rows (float64, 1e-12)."""
    X = rng.normal(size=(100, 3))
    y = rng.normal(size=(100, 2))
    w = rng.integers(0, 4, size=100)
    w[0] = 2
    rows = np.repeat(np.arange(100), w)
    a = fastbp.MLP([3, 8, 2], dtype="float64", alpha=0.05, seed=3)
    b = a.copy()
    a.fit(X, y, epochs=3, batch_size=100, shuffle=False, optimizer=fastbp.SGD(lr=0.1), sample_weight=w)
    b.fit(X[rows], y[rows], epochs=3, batch_size=len(rows), shuffle=False, optimizer=fastbp.SGD(lr=0.1))
    np.testing.assert_allclose(a.params, b.params, rtol=1e-12, atol=1e-14)
