"""Model files and checkpoints of the layer plan (format 3), old format-2 files, and hostile headers.

A file from elsewhere is untrusted: every header below is resealed (its
SHA-256 recomputed), so only fastbp's semantic checks stand between it and
the network, and each must be refused with ``fastbp.ModelFileError``.
"""

import contextlib
import copy
import json
import math
import pathlib
import sys
import time
import tracemalloc

import numpy as np
import pytest
from conftest import Interrupted, interrupt_after

import fastbp
from fastbp import io
from fastbp import layers as L

DATA = pathlib.Path(__file__).resolve().parent / "data"


def _layers():
    return [
        L.Dense(6),
        L.BatchNorm(),
        L.ReLU(),
        L.Dropout(0.2),
        L.Residual(L.Dense(6), L.LayerNorm(), L.GELU()),
        L.Dense(3),
    ]


def _sequential(dtype="float64", seed=1):
    return fastbp.Sequential(5, _layers(), loss="cross_entropy", dtype=dtype, seed=seed)


NETWORKS = {
    "sequential": _sequential,
    "mlp-layer-norm": lambda dtype="float64": fastbp.MLP(
        [5, 8, 8, 3], norm="layer", residual=True, loss="cross_entropy", dtype=dtype, seed=2
    ),
    "mlp-batch-norm": lambda dtype="float64": fastbp.MLP(
        [5, 8, 8, 3], norm="batch", residual=True, loss="cross_entropy", dropout=0.1, dtype=dtype, seed=3
    ),
}


def _data(rng, n=41, dtype="float64"):
    """Five features and three classes; 41 rows give batches of 5 and a last batch of one row."""
    return rng.normal(size=(n, 5)).astype(dtype), rng.integers(0, 3, size=n)


# ---------------------------------------------------------------------- raw file editing
def _split(path):
    """(header dict, data bytes) of a fastbp file."""
    blob = pathlib.Path(path).read_bytes()
    start = len(io.MAGIC) + 8
    n = int.from_bytes(blob[len(io.MAGIC) : start], "little")
    return json.loads(blob[start : start + n]), blob[start + n :]


@contextlib.contextmanager
def _deep_recursion():
    """Room for this file's own encoding and copying of deeply nested headers (not for fastbp's reading)."""
    old = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old, 20_000))
    try:
        yield
    finally:
        sys.setrecursionlimit(old)


def _write_sealed(path, header, data):
    """Write ``header`` and ``data`` with a correct checksum."""
    header = dict(header)
    header.pop("sha256", None)
    with _deep_recursion():
        header["sha256"] = io._checksum(header, data)
        encoded = json.dumps(header, sort_keys=True).encode("utf-8")
    pathlib.Path(path).write_bytes(io.MAGIC + len(encoded).to_bytes(8, "little") + encoded + data)


def _rewrite(path, edit):
    """Apply ``edit(header)`` to a saved file's header and reseal it."""
    header, data = _split(path)
    edit(header)
    _write_sealed(path, header, data)


def _set_layers(header, layers, n_in=None):
    """Give the config and the plan the same layer list, so that only the layer checks can object."""
    header["config"]["layers"] = layers
    with _deep_recursion():
        header["plan"]["layers"] = copy.deepcopy(layers)
    if n_in is not None:
        header["config"]["n_in"] = header["plan"]["n_in"] = n_in


def _refused(path, match=None):
    with pytest.raises(fastbp.ModelFileError, match=match) as caught:
        fastbp.load(path)
    assert str(caught.value).startswith(f"{path}: ")
    return caught.value


def _refused_quickly_and_cheaply(path, match=None):
    """Refused within a second and without allocating more than 50 MB on the way."""
    tracemalloc.start()
    start = time.perf_counter()
    try:
        _refused(path, match)
        seconds = time.perf_counter() - start
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert seconds < 1.0, f"took {seconds:.2f} s to refuse"
    assert peak < 50 << 20, f"allocated {peak / 2**20:.0f} MB before refusing"


# ---------------------------------------------------------------------- 1. format 2
FORMAT2 = {
    "classifier": ("mlp_format2.fbp", np.float64, (5, 7, 6, 3), 3),
    "regressor": ("mlp_format2_regression.fbp", np.float32, (5, 4, 2), 2),
}


@pytest.mark.parametrize("key", FORMAT2)
def test_format2_files_load_as_mlps_and_predict_exactly_as_before(key, tmp_path):
    name, dtype, sizes, epochs = FORMAT2[key]
    expected = np.load(DATA / "mlp_format2_predictions.npz")
    assert _split(DATA / name)[0]["format_version"] == 2
    net = fastbp.load(DATA / name)
    assert type(net) is fastbp.MLP
    assert net.sizes == sizes and net.dtype == dtype and net.epochs_trained == epochs
    assert net.running_stats.size == 0 and net.norm is None and net.residual is False
    X = expected["X"].astype(dtype)
    np.testing.assert_array_equal(net.predict(X), expected[key])  # exact: not even 1 ulp off

    # saved again it is a format-3 file of the same network
    path = tmp_path / "again.fbp"
    net.save(path)
    header, _ = _split(path)
    assert header["format_version"] == 3 and header["config"]["class"] == "MLP"
    assert "buffers" not in [entry[0] for entry in header["arrays"]]
    again = fastbp.load(path)
    assert type(again) is fastbp.MLP and again._config() == net._config()
    np.testing.assert_array_equal(again.params, net.params)
    np.testing.assert_array_equal(again.predict(X), expected[key])


# ---------------------------------------------------------------------- 2. round trip
@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("which", NETWORKS)
def test_round_trip_is_bit_exact_running_statistics_included(which, dtype, tmp_path, rng):
    make = NETWORKS[which]
    X, y = _data(rng, dtype=dtype)
    net = make(dtype=dtype)
    net.fit(X, y, epochs=3, batch_size=5, optimizer=fastbp.Adam(lr=0.02))
    fresh = make(dtype=dtype)
    if net.plan.has_batch_norm:
        assert net.running_stats.size > 0
        assert not np.array_equal(net.running_stats, fresh.running_stats)  # the statistics moved
    path = tmp_path / "net.fbp"
    net.save(path)
    header, _ = _split(path)
    assert header["format_version"] == 3
    assert header["config"]["class"] == type(net).__name__
    assert header["plan"] == {"n_in": 5, "layers": [layer.config() for layer in net.layers]}
    listed = {entry[0]: entry for entry in header["arrays"]}
    assert listed["params"] == ["params", dtype, [net.n_params]]
    if net.running_stats.size:
        assert listed["buffers"] == ["buffers", dtype, [net.running_stats.size]]
    else:
        assert "buffers" not in listed

    loaded = fastbp.load(path)
    assert type(loaded) is type(net)
    assert loaded.dtype == net.dtype and loaded.params.dtype == net.params.dtype
    assert loaded.running_stats.dtype == net.running_stats.dtype
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.running_stats, net.running_stats)
    assert loaded.layers == net.layers
    np.testing.assert_array_equal(loaded.plan.ops, net.plan.ops)
    np.testing.assert_array_equal(loaded.plan.scalars, net.plan.scalars)
    assert loaded.plan.buffer_names == net.plan.buffer_names
    assert loaded.plan.parameter_names == net.plan.parameter_names
    assert loaded._config() == net._config() and loaded.sizes == net.sizes
    assert loaded.epochs_trained == net.epochs_trained == 3
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded.evaluate(X, y) == net.evaluate(X, y)

    # the file of the loaded network is the same file, byte for byte
    loaded.save(tmp_path / "again.fbp")
    assert (tmp_path / "again.fbp").read_bytes() == path.read_bytes()

    # and it trains on exactly as the original (same seed, same epoch count, same statistics)
    net.fit(X, y, epochs=1, batch_size=5, optimizer=fastbp.Adam(lr=0.02))
    loaded.fit(X, y, epochs=1, batch_size=5, optimizer=fastbp.Adam(lr=0.02))
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.running_stats, net.running_stats)


# ---------------------------------------------------------------------- 3. checkpoint and resume
@pytest.mark.parametrize("how", ["shorter fit", "interrupted fit"])
@pytest.mark.parametrize("which", ["sequential", "mlp-batch-norm"])
def test_resume_with_batch_norm_reaches_the_same_weights_and_statistics(which, how, tmp_path, rng):
    make = NETWORKS[which]
    X, y = _data(rng)
    whole = make()
    history = whole.fit(X, y, epochs=4, batch_size=5)

    path = tmp_path / "run.ckpt"
    first = make()
    if how == "shorter fit":
        first.fit(X, y, epochs=2, batch_size=5, checkpoint=path, checkpoint_every=1)
    else:
        with pytest.raises(Interrupted):
            first.fit(X, y, epochs=4, batch_size=5, checkpoint=path, checkpoint_every=1,
                      callbacks=[interrupt_after(3)])  # fmt: skip
    stored = io.read(path)
    assert stored.header["epochs_trained"] == 2
    assert stored.arrays["buffers"].shape == (whole.running_stats.size,)

    resumed = fastbp.load(path)  # a new process starts from the file
    assert type(resumed) is type(whole) and resumed.epochs_trained == 2
    assert not np.array_equal(resumed.running_stats, make().running_stats)
    resumed_history = resumed.fit(X, y, epochs=4, batch_size=5, resume=path)
    np.testing.assert_array_equal(resumed.params, whole.params)
    np.testing.assert_array_equal(resumed.running_stats, whole.running_stats)
    assert resumed_history.loss == history.loss
    assert resumed.epochs_trained == whole.epochs_trained == 4

    # the same constructor instead of load: a network whose statistics differ from the file's
    other = make()
    other.running_stats[:] = 7.0
    other.fit(X, y, epochs=4, batch_size=5, resume=path)
    np.testing.assert_array_equal(other.params, whole.params)
    np.testing.assert_array_equal(other.running_stats, whole.running_stats)


def _early_stopping_fit(rng):
    X, y = _data(rng, n=60)
    val = _data(rng, n=30)  # labels unrelated to the features: the validation loss soon rises
    kwargs = dict(epochs=40, batch_size=6, validation_data=val, patience=3, optimizer=fastbp.Adam(lr=0.05))
    return X, y, kwargs


def _record_states(states):
    def callback(info):
        net = info["net"]
        states.append((net.params.copy(), net.running_stats.copy()))

    return callback


def test_early_stopping_restores_the_best_running_statistics(rng):
    X, y, kwargs = _early_stopping_fit(rng)
    net = _sequential()
    states = []
    history = net.fit(X, y, callbacks=[_record_states(states)], **kwargs)
    assert history.stopped_early and len(states) < 40
    best = history.best_epoch
    assert best == int(np.argmin(history.val_loss)) and best < len(states) - 1
    best_params, best_stats = states[best]
    assert not np.array_equal(best_stats, states[-1][1])  # restoring them is visible
    np.testing.assert_array_equal(net.params, best_params)
    np.testing.assert_array_equal(net.running_stats, best_stats)


def test_resume_with_early_stopping_carries_the_best_running_statistics(tmp_path, rng):
    X, y, kwargs = _early_stopping_fit(rng)
    whole = _sequential()
    states = []
    history = whole.fit(X, y, callbacks=[_record_states(states)], **kwargs)
    best = history.best_epoch
    assert history.stopped_early and len(states) == best + 4  # patience 3: three bad epochs after the best

    # interrupted in the last epoch: the checkpoint holds two bad epochs after the best one
    path = tmp_path / "run.ckpt"
    with pytest.raises(Interrupted):
        _sequential().fit(X, y, checkpoint=path, callbacks=[interrupt_after(best + 4)],
                          **{**kwargs, "optimizer": fastbp.Adam(lr=0.05)})  # fmt: skip
    stored = io.read(path)
    n_params, n_stats = whole.n_params, whole.running_stats.size
    assert stored.arrays["best_params"].shape == (n_params + n_stats,)
    np.testing.assert_array_equal(stored.arrays["best_params"][:n_params], states[best][0])
    np.testing.assert_array_equal(stored.arrays["best_params"][n_params:], states[best][1])
    np.testing.assert_array_equal(stored.arrays["buffers"], states[best + 2][1])

    resumed = fastbp.load(path)
    resumed_history = resumed.fit(X, y, resume=path, **{**kwargs, "optimizer": None})
    assert resumed_history.best_epoch == best and resumed_history.stopped_early
    assert resumed_history.val_loss == history.val_loss
    np.testing.assert_array_equal(resumed.params, whole.params)
    np.testing.assert_array_equal(resumed.running_stats, whole.running_stats)
    np.testing.assert_array_equal(resumed.running_stats, states[best][1])


# ---------------------------------------------------------------------- 4. hostile headers
@pytest.fixture
def saved(tmp_path):
    """A valid format-3 file of the BatchNorm Sequential; its path."""
    path = tmp_path / "net.fbp"
    _sequential().save(path)
    fastbp.load(path)  # valid as written
    return path


def _layer_list(header):
    return json.loads(json.dumps(header["config"]["layers"]))


def _with_first_layer(**changes):
    def edit(header):
        layers = _layer_list(header)
        layers[0] = {**layers[0], **changes}
        _set_layers(header, layers)

    return edit


def _with_layer(index, layer):
    def edit(header):
        layers = _layer_list(header)
        layers[index] = layer
        _set_layers(header, layers)

    return edit


def test_resealed_valid_file_still_loads(saved):
    """The editing helpers change nothing by themselves: only the edits below make files bad."""
    original = fastbp.load(saved)
    _rewrite(saved, lambda h: _set_layers(h, _layer_list(h)))
    loaded = fastbp.load(saved)
    np.testing.assert_array_equal(loaded.params, original.params)
    np.testing.assert_array_equal(loaded.running_stats, original.running_stats)
    assert loaded.layers == original.layers


HOSTILE_LAYERS = {
    "unknown layer kind": (_with_first_layer(kind="convolution"), "unknown layer kind 'convolution'"),
    "dense width off by one": (_with_layer(5, {"kind": "dense", "n": 4, "bias": True}), "parameters"),
    "dense without its bias": (_with_first_layer(bias=False), "parameters"),
    "extra key": (_with_first_layer(activation="relu"), "activation"),
    "width as text": (_with_first_layer(n="6"), "n must be a positive integer"),
    "width as a float": (_with_first_layer(n=6.0), "n must be a positive integer"),
    "width as a boolean": (_with_first_layer(n=True), "n must be a positive integer"),
    "width 0": (_with_first_layer(n=0), "n must be a positive integer"),
    "bias as 1": (_with_first_layer(bias=1), "bias must be True or False"),
    "no kind": (_with_layer(2, {"n": 6}), "must be an object with a 'kind'"),
    "kind as a number": (_with_layer(2, {"kind": 3}), "must be an object with a 'kind'"),
    "layer as a string": (_with_layer(2, "relu"), "must be an object"),
    "activation with a setting": (_with_layer(2, {"kind": "relu", "inplace": True}), "relu"),
    "batch norm eps -1": (_with_layer(1, {"kind": "batch_norm", "momentum": 0.1, "eps": -1}), "eps"),
    "batch norm eps 0": (_with_layer(1, {"kind": "batch_norm", "momentum": 0.1, "eps": 0}), "eps"),
    "batch norm eps as text": (
        _with_layer(1, {"kind": "batch_norm", "momentum": 0.1, "eps": "1e-5"}), "eps must be a number",
    ),
    "batch norm momentum 1.5": (_with_layer(1, {"kind": "batch_norm", "momentum": 1.5, "eps": 1e-5}), "mom"),
    "batch norm eps NaN": (_with_layer(1, {"kind": "batch_norm", "momentum": 0.1, "eps": math.nan}), "eps"),
    "dropout p 1": (_with_layer(3, {"kind": "dropout", "p": 1.0}), "p must lie in"),
    "dropout p -0.5": (_with_layer(3, {"kind": "dropout", "p": -0.5}), "p must lie in"),
    "dropout p as text": (_with_layer(3, {"kind": "dropout", "p": "0.2"}), "p must be a number"),
    "residual with an extra key": (
        _with_layer(4, {"kind": "residual", "layers": [{"kind": "relu"}], "scale": 2}), "residual",
    ),
    "residual without layers": (_with_layer(4, {"kind": "residual"}), "residual"),
    "residual of no layers": (_with_layer(4, {"kind": "residual", "layers": []}), "at least one layer"),
    "residual that changes the width": (
        _with_layer(4, {"kind": "residual", "layers": [{"kind": "dense", "n": 4, "bias": True}]}), "width",
    ),
    "layer norm over one feature": (
        lambda h: _set_layers(h, [{"kind": "dense", "n": 1, "bias": True}, {"kind": "layer_norm", "eps": 1}]),
        "1-wide",
    ),
    "no layers": (lambda h: _set_layers(h, []), "at least one layer"),
    "layers as an object": (lambda h: _set_layers(h, {"0": {"kind": "relu"}}), "list of layers"),
}  # fmt: skip


@pytest.mark.parametrize("edit,message", HOSTILE_LAYERS.values(), ids=HOSTILE_LAYERS.keys())
def test_hostile_layer_configs_are_refused(edit, message, saved):
    _rewrite(saved, edit)
    _refused(saved, message)


HOSTILE_CONFIGS = {
    "unknown class": (lambda h: h["config"].update({"class": "Transformer"}), "unknown network class"),
    "class as a list": (lambda h: h["config"].update({"class": ["Sequential"]}), "unknown network class"),
    "unknown loss": (lambda h: h["config"].update(loss="hinge"), "unknown loss"),
    "float16": (lambda h: h["config"].update(dtype="float16"), "dtype"),
    "negative alpha": (lambda h: h["config"].update(alpha=-1.0), "alpha"),
    "no input width": (lambda h: h["config"].pop("n_in"), "input width"),
    "input width as text": (lambda h: h["config"].update(n_in="5"), "input width"),
    "input width 0": (lambda h: h["config"].update(n_in=0), "input width"),
    "unknown config field": (lambda h: h["config"].update(momentum=0.9), "momentum"),
    "negative seed": (lambda h: h["config"].update(seed=-1), "seed"),
    "seed as text": (lambda h: h["config"].update(seed="zero"), "seed"),
    "plan with another width": (lambda h: h["plan"]["layers"][0].update(n=7), "stored plan"),
    "plan with another input width": (lambda h: h["plan"].update(n_in=6), "stored plan"),
    "plan with a layer less": (lambda h: h["plan"]["layers"].pop(3), "stored plan"),
    "plan with another eps": (lambda h: h["plan"]["layers"][1].update(eps=1e-3), "stored plan"),
    "plan as a list": (lambda h: h.update(plan=[5]), "stored plan"),
}


@pytest.mark.parametrize("edit,message", HOSTILE_CONFIGS.values(), ids=HOSTILE_CONFIGS.keys())
def test_hostile_network_configs_are_refused(edit, message, saved):
    _rewrite(saved, edit)
    _refused(saved, message)


def test_mlp_config_with_a_bad_seed_is_refused(tmp_path):
    path = tmp_path / "mlp.fbp"
    fastbp.MLP([5, 4, 2], norm="batch").save(path)
    _rewrite(path, lambda h: h["config"].update(seed=-1))
    _refused(path, "seed")


def _widen(n):
    """Both 6-wide dense layers (the first and the residual block's) made ``n`` wide."""

    def edit(header):
        layers = _layer_list(header)
        layers[0]["n"] = layers[4]["layers"][0]["n"] = n
        _set_layers(header, layers)

    return edit


def test_a_layer_a_billion_wide_is_refused_at_once_without_allocating(saved):
    _rewrite(saved, _widen(10**9))
    _refused_quickly_and_cheaply(saved, "parameters")


def test_a_layer_wider_than_int64_is_refused(saved):
    _rewrite(saved, _widen(2**70))
    _refused_quickly_and_cheaply(saved)


def test_a_weight_count_that_overflows_int64_is_refused(tmp_path):
    """2**32 inputs times 2**32 outputs is 2**64 weights: 0 when counted in int64, as the file's params."""
    path = tmp_path / "net.fbp"
    fastbp.Sequential(5, [L.Dense(3, bias=False)], dtype="float64").save(path)
    header, _ = _split(path)
    _set_layers(header, [{"kind": "dense", "n": 2**32, "bias": False}], n_in=2**32)
    header["arrays"] = [["params", "float64", [0]]]
    _write_sealed(path, header, b"")
    _refused_quickly_and_cheaply(path)


def test_layers_whose_work_buffers_the_arrays_do_not_justify_are_refused(saved):
    """4000 activation layers stay under the op limit, but their work memory per row is not justified."""
    _rewrite(saved, lambda h: _set_layers(h, _layer_list(h) + [{"kind": "tanh"}] * 4000))
    _refused_quickly_and_cheaply(saved, "work values per row")


def test_5000_activation_layers_are_refused(saved):
    _rewrite(saved, lambda h: _set_layers(h, _layer_list(h) + [{"kind": "tanh"}] * 5000))
    _refused_quickly_and_cheaply(saved, "at most 4096 ops")


@pytest.mark.parametrize("depth", [33, 1000])
def test_deeply_nested_residual_blocks_are_refused(depth, saved):
    layer = {"kind": "relu"}
    for _ in range(depth):
        layer = {"kind": "residual", "layers": [layer]}
    _rewrite(saved, lambda h: _set_layers(h, [layer]))
    _refused(saved)  # a ModelFileError, not a RecursionError


def _rewrite_arrays(path, edit):
    """Rewrite the file with ``edit(arrays)`` applied, through ``io.write`` (so the checksum is right)."""
    stored = io.read(path)
    arrays = {name: np.array(a) for name, a in stored.arrays.items()}
    edit(arrays)
    io.write(path, fastbp.load(path), stored.header["extra"], arrays)


HOSTILE_ARRAYS = {
    "buffers one short": (lambda a: a.update(buffers=a["buffers"][:-1]), "running statistics"),
    "buffers one long": (lambda a: a.update(buffers=np.append(a["buffers"], 1.0)), "running statistics"),
    "buffers of two rows": (lambda a: a.update(buffers=a["buffers"].reshape(2, -1)), "running statistics"),
    "buffers missing": (lambda a: a.pop("buffers"), "needs 12 float64 running statistics"),
    "buffers in float32": (lambda a: a.update(buffers=a["buffers"].astype(np.float32)), "running statistics"),
    "buffers as int64": (lambda a: a.update(buffers=a["buffers"].astype(np.int64)), "running statistics"),
    "params in float32": (lambda a: a.update(params=a["params"].astype(np.float32)), "parameters"),
}


@pytest.mark.parametrize("edit,message", HOSTILE_ARRAYS.values(), ids=HOSTILE_ARRAYS.keys())
def test_arrays_that_do_not_fit_the_network_are_refused(edit, message, saved):
    _rewrite_arrays(saved, edit)
    _refused(saved, message)


def test_buffers_in_a_network_without_batch_norm_are_refused(tmp_path):
    path = tmp_path / "net.fbp"
    fastbp.MLP([5, 8, 8, 3], norm="layer", residual=True, dtype="float64").save(path)
    _rewrite_arrays(path, lambda a: a.update(buffers=np.zeros(4)))
    _refused(path, "running statistics")


# ---------------------------------------------------------------------- 5. hostile checkpoints
REFUSED_CHECKPOINTS = {
    "buffers one short": (lambda a: a.update(buffers=a["buffers"][:-1]), "buffers has shape"),
    "buffers of two rows": (lambda a: a.update(buffers=a["buffers"].reshape(2, -1)), "buffers has shape"),
    "buffers empty": (lambda a: a.update(buffers=a["buffers"][:0]), "buffers has shape"),
    "buffers missing": (lambda a: a.pop("buffers"), "no buffers"),
    "best weights without statistics": (
        lambda a: a.update(best_params=a["best_params"][: a["params"].size]), "best_params has shape",
    ),
}  # fmt: skip


@pytest.mark.parametrize("edit,message", REFUSED_CHECKPOINTS.values(), ids=REFUSED_CHECKPOINTS.keys())
def test_a_checkpoint_with_bad_buffers_is_refused_and_changes_nothing(edit, message, tmp_path, rng):
    X, y = _data(rng)
    val = _data(rng, n=10)
    options = dict(batch_size=5, validation_data=val, patience=5)
    path = tmp_path / "run.ckpt"
    _sequential().fit(X, y, epochs=2, checkpoint=path, **options)
    stored = io.read(path)
    assert {"buffers", "best_params"} <= stored.arrays.keys()
    _rewrite_arrays(path, edit)

    net = _sequential()
    optimizer = fastbp.Adam(lr=0.01)
    net.fit(X[:20], y[:20], epochs=1, batch_size=5, optimizer=optimizer)  # a state unlike the file's
    params, stats, state = net.params.copy(), net.running_stats.copy(), optimizer.state.copy()
    steps = optimizer.step_count
    with pytest.raises(fastbp.ModelFileError, match=message):
        net.fit(X, y, epochs=4, optimizer=optimizer, resume=path, **options)
    np.testing.assert_array_equal(net.params, params)
    np.testing.assert_array_equal(net.running_stats, stats)
    np.testing.assert_array_equal(optimizer.state, state)
    assert optimizer.step_count == steps and net.epochs_trained == 1


def test_a_format2_checkpoint_resumes_where_the_old_version_left_it(tmp_path):
    """A checkpoint written by the previous format resumes, and the fit ends where the old version's did."""
    data = np.load(DATA / "mlp_format2_checkpoint_resumed.npz")
    path = tmp_path / "old.fbp"
    path.write_bytes((DATA / "mlp_format2_checkpoint.fbp").read_bytes())
    net = fastbp.load(path)
    net.fit(data["X"], data["y"], epochs=4, batch_size=8, resume=path)
    # the same run in the same precision; the passes sum in another order than the old ones did
    np.testing.assert_allclose(net.params, data["params"], rtol=1e-10, atol=1e-12)


def test_an_mlp_header_with_many_sizes_is_refused_before_building_anything(saved):
    def edit(header):
        header["config"] = {**header["config"], "class": "MLP", "sizes": [1] * 100_000}
        for key in ("n_in", "layers"):
            header["config"].pop(key, None)

    _rewrite(saved, edit)
    _refused_quickly_and_cheaply(saved, "at most 4096 ops")
