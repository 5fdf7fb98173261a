"""The layer plan: specs, their checks, registries, gradients and passes of the new layer kinds."""

import numpy as np
import pytest
import reference as ref

import fastbp
from fastbp import layers as L
from fastbp.kernels import activations, losses, table
from fastbp.kernels import optimizers as optimizer_kernels
from fastbp.plan import Plan
from fastbp.workspace import chunk_rows_for

TOL = 1e-6


def _stack(name):
    """Named layer stacks that exercise every new kind alone and mixed."""
    return {
        "layer_norm": [L.Dense(6), L.LayerNorm(), L.Tanh(), L.Dense(3)],
        "batch_norm": [L.Dense(6), L.BatchNorm(), L.ReLU(), L.Dense(3)],
        "residual": [L.Dense(6), L.Residual(L.Dense(6), L.SiLU()), L.Dense(3)],
        "norms_in_residual": [
            L.Dense(6),
            L.Residual(L.Dense(6), L.BatchNorm(), L.GELU(), L.Dense(6), L.LayerNorm()),
            L.ELU(),
            L.Dense(3),
        ],
        "norm_first": [L.BatchNorm(), L.Dense(6), L.LayerNorm(), L.Softplus(), L.Dense(3)],
        "residual_first": [L.Residual(L.Dense(5), L.Tanh()), L.Residual(L.LayerNorm()), L.Dense(3)],
        "no_bias_dropout": [L.Dense(6, bias=False), L.BatchNorm(), L.ReLU(), L.Dropout(0.3), L.Dense(3)],
        "nested": [L.Dense(6), L.Residual(L.Residual(L.Dense(6), L.Sigmoid()), L.LayerNorm()), L.Dense(3)],
    }[name]


STACKS = ["layer_norm", "batch_norm", "residual", "norms_in_residual", "norm_first", "residual_first",
          "no_bias_dropout", "nested"]  # fmt: skip


def _net(name, loss="mse", dtype="float64", seed=0, rng=None):
    net = fastbp.Sequential(5, _stack(name), loss=loss, dtype=dtype, seed=seed)
    if rng is not None:  # move the norms' scales and shifts off 1 and 0 so their gradients matter
        net.params += 0.2 * rng.normal(size=net.n_params).astype(net.dtype)
    return net


def _data(rng, rows, loss="mse"):
    X = rng.normal(size=(rows, 5))
    y = rng.integers(0, 3, rows) if loss == "cross_entropy" else rng.normal(size=(rows, 3))
    return X, y


# ------------------------------------------------------------------ registries
def test_registries_references_and_kernels_list_the_same_names():
    assert sorted(L.KINDS) == sorted(ref.LAYER_KINDS)
    assert list(activations.ACTIVATIONS) == ref.ACTIVATIONS == list(activations.CODES)
    assert {cls.kind for cls in L.ACTIVATION_LAYERS.values()} == set(ref.ACTIVATIONS)
    assert sorted(losses.CODES) == sorted(ref.LOSSES)
    assert sorted(fastbp.optimizers.OPTIMIZERS) == sorted(ref.OPTIMIZERS)
    # every op kind of the table has a layer that emits it, and the walker dispatches all of them
    emitted = set()
    for kind in L.KINDS:
        spec = L.KINDS[kind]
        layer = spec(L.Dense(2)) if kind == "residual" else spec(2) if kind == "dense" else spec()
        emitted |= set(Plan(2, [layer]).kinds)
    assert emitted == set(table.KIND_NAMES.values())
    source = open(fastbp.kernels.network.__file__).read()
    for name in table.KIND_NAMES.values():
        assert f"{name}.forward(net, op, ch)" in source.replace("activations.", "activation.")
    # every optimizer class names a kernel module that is registered and lists its hyperparameters
    for cls in fastbp.optimizers.OPTIMIZERS.values():
        opt = cls()
        assert opt.kernel in [module for _, module in optimizer_kernels.KINDS.values()]
        assert opt.hyper().shape == (len(opt.kernel.HYPER),)
        assert all(hasattr(opt, name) for name in opt.kernel.HYPER)


def test_activation_layers_have_the_public_names():
    names = ["Identity", "ReLU", "LeakyReLU", "ELU", "GELU", "Sigmoid", "Tanh", "Softplus", "SiLU"]
    assert [cls.__name__ for cls in L.ACTIVATION_LAYERS.values()] == names
    assert all(getattr(L, name) is cls for name, cls in zip(names, L.ACTIVATION_LAYERS.values()))


# ------------------------------------------------------------------ bad specs
@pytest.mark.parametrize(
    "make, message",
    [
        (lambda: L.Dense(0), "Dense: n must be a positive integer"),
        (lambda: L.Dense(2.5), "Dense: n must be a positive integer"),
        (lambda: L.Dense(3, bias="yes"), "bias must be True or False"),
        (lambda: L.Dropout(1.0), r"Dropout: p must lie in \[0.0, 1.0\)"),
        (lambda: L.LayerNorm(eps=0), "LayerNorm: eps"),
        (lambda: L.BatchNorm(momentum=1.5), "BatchNorm: momentum"),
        (lambda: L.Residual(), "at least one layer"),
        (lambda: L.Residual("relu"), "is not a layer"),
        (lambda: fastbp.Sequential(3, [L.Dense(2), "relu"]), "layer 1: 'relu' is not a layer"),
        (lambda: fastbp.Sequential(3, []), "at least one layer"),
        (lambda: fastbp.Sequential(0, [L.Dense(2)]), "input width must be a positive integer"),
        (lambda: fastbp.Sequential(3, [L.Dense(1), L.LayerNorm()]), "1.LayerNorm: normalising a 1-wide"),
        (lambda: fastbp.Sequential(3, [L.Residual(L.Dense(4))]), "0.Residual: its layers change the width"),
        (lambda: fastbp.Sequential(3, [L.Dense(2)], loss="hinge"), "unknown loss"),
        (lambda: L.from_config({"kind": "conv2d"}), "unknown layer kind 'conv2d'"),
        (lambda: L.from_config({"kind": "dense", "n": 3, "bais": True}), "layer 'dense'"),
        (lambda: fastbp.MLP([3, 4, 2], norm="group"), "norm must be None, 'layer' or 'batch'"),
    ],
)
def test_bad_specs_are_refused_before_any_work(make, message):
    with pytest.raises(ValueError, match=message):
        make()


# ------------------------------------------------------------------ gradients
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("loss", ["mse", "cross_entropy"])
def test_gradcheck_new_layers(stack, loss, rng):
    net = _net(stack, loss, rng=rng)
    X, y = _data(rng, 7, loss)
    assert fastbp.gradcheck(net, X, y) < TOL
    if stack == "no_bias_dropout":  # with the dropout mask fixed by a seed
        assert fastbp.gradcheck(net, X, y, dropout_seed=5) < TOL


@pytest.mark.parametrize("rows", [2, 3])
def test_gradcheck_batch_norm_on_the_smallest_batches(rows, rng):
    net = _net("norms_in_residual", rng=rng)
    X, y = _data(rng, rows)
    assert fastbp.gradcheck(net, X, y) < TOL


def test_one_input_feature_and_one_output(rng):
    net = fastbp.Sequential(1, [L.Dense(4), L.BatchNorm(), L.Tanh(), L.Residual(L.Dense(4)), L.Dense(1)],
                            dtype="float64")  # fmt: skip
    X, y = rng.normal(size=(6, 1)), rng.normal(size=6)
    assert fastbp.gradcheck(net, X, y) < TOL


# ------------------------------------------------------------------ against the NumPy reference
@pytest.mark.parametrize("stack", STACKS)
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_passes_equal_the_numpy_reference(stack, dtype, rng):
    net = _net(stack, dtype=dtype, rng=rng)
    for _, view in net.buffers():  # running statistics away from 0 and 1
        view[:] = rng.uniform(0.5, 1.5, size=view.shape)
    X, y = _data(rng, 9)
    tol = {"rtol": 1e-10, "atol": 1e-10} if dtype == "float64" else {"rtol": 2e-4, "atol": 2e-5}
    np.testing.assert_allclose(net.predict(X), ref.sequential_forward(net, X, train=False), **tol)
    expected_loss = ref.loss("mse", ref.sequential_forward(net, X, train=True), y)[0]
    np.testing.assert_allclose(net.loss_grad(X, y)[0], expected_loss, **tol)
    np.testing.assert_allclose(
        net.evaluate(X, y), ref.loss("mse", net.predict(X).astype(np.float64), y)[0], **tol
    )


def test_batch_norm_running_statistics_follow_torch_rule(rng):
    """After one step of plain SGD with lr 0 the running statistics moved by momentum towards the batch's."""
    net = fastbp.Sequential(3, [L.BatchNorm(momentum=0.25), L.Dense(2)], dtype="float64")
    X, y = rng.normal(size=(10, 3)) * 3 + 1, rng.normal(size=(10, 2))
    net.fit(X, y, epochs=1, batch_size=10, shuffle=False, optimizer=fastbp.SGD(lr=0.0))
    _, mean, var = ref.batch_norm(X, 1.0, 0.0, 1e-5)
    running = dict(net.buffers())
    np.testing.assert_allclose(running["0.running_mean"], 0.25 * mean, rtol=1e-12)
    np.testing.assert_allclose(running["0.running_var"], 0.75 + 0.25 * var, rtol=1e-12)
    # loss_grad is a training pass that leaves them alone
    before = net.running_stats.copy()
    net.loss_grad(X, y)
    np.testing.assert_array_equal(net.running_stats, before)


# ------------------------------------------------------------------ parallel chunks
@pytest.mark.parametrize("stack", STACKS)
def test_chunked_parallel_path_equals_the_serial_path(stack, rng, monkeypatch):
    """Batches of 200 rows on narrow layers run as parallel feature-major chunks, batch norms included."""
    from fastbp import sequential

    X, y = _data(rng, 400)
    chunked, serial = _net(stack, seed=2), _net(stack, seed=2)
    assert chunk_rows_for(chunked.plan, 200) > 0
    chunked.fit(X, y, epochs=2, batch_size=200, optimizer=fastbp.Adam(lr=1e-2))
    assert chunked._kept_workspace[1].chunk_rows > 0
    monkeypatch.setattr(sequential, "chunk_rows_for", lambda plan, rows: 0)
    serial.fit(X, y, epochs=2, batch_size=200, optimizer=fastbp.Adam(lr=1e-2))
    assert serial._kept_workspace[1].chunk_rows == 0
    # a dense bias right before a BatchNorm has a true gradient of 0, which Adam turns into steps of
    # rounding noise (up to ~1e-10 here): hence the absolute tolerance
    np.testing.assert_allclose(chunked.params, serial.params, rtol=1e-9, atol=1e-8)
    np.testing.assert_allclose(chunked.running_stats, serial.running_stats, rtol=1e-9, atol=1e-8)


def test_chunked_batch_norm_gradient_equals_one_serial_pass(rng):
    """The chunked pass's BatchNorm statistics span the whole batch: its gradient is the serial one."""
    from fastbp.kernels import network
    from fastbp.workspace import Workspace

    net = _net("norms_in_residual", rng=rng)
    X, y = _data(rng, 130)
    data = table.Data(X, y, np.empty(0, dtype=np.int64), np.empty(0))
    batch = table.Batch(0, 130, False, np.uint64(0), table.TRAIN, True)
    grads = []
    for chunk_rows, kernel in ((0, network.loss_gradient), (32, network.loss_gradient_parallel)):
        ws = Workspace(net.plan, 130, net.dtype, training=True, chunk_rows=chunk_rows, n_targets=3)
        grad = np.full(net.n_params, np.nan)
        loss, _ = kernel(net._net(), grad, data, ws.bundle(np.empty(0, dtype=np.int64)), batch)
        grads.append((loss, grad))
    np.testing.assert_allclose(grads[1][0], grads[0][0], rtol=1e-13)
    np.testing.assert_allclose(grads[1][1], grads[0][1], rtol=1e-11, atol=1e-13)


def test_batch_norm_results_are_bit_identical_for_1_2_and_4_threads():
    """In a process with a pool of 4 threads (this machine may have fewer cores: the split is the same)."""
    import subprocess
    import sys

    script = (
        "import numpy as np, fastbp, sys; sys.path.insert(0, 'tests'); from test_layers import _net, _data\n"
        "X, y = _data(np.random.default_rng(7), 500)\n"
        "runs = []\n"
        "for threads in (1, 2, 4):\n"
        "    net = _net('norms_in_residual', dtype='float32', seed=4)\n"
        "    net.fit(X, y, epochs=2, batch_size=250, n_threads=threads)\n"
        "    assert net._kept_workspace[1].chunk_rows > 0\n"
        "    runs.append(net.params.tobytes() + net.running_stats.tobytes())\n"
        "print(len(set(runs)), len(runs))\n"
    )
    env = {**__import__("os").environ, "NUMBA_NUM_THREADS": "4"}
    root = __import__("pathlib").Path(__file__).resolve().parent.parent
    result = subprocess.run([sys.executable, "-c", script], env=env, cwd=root, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split() == ["1", "3"]


# ------------------------------------------------------------------ batch norm and small batches
def test_batch_norm_refuses_a_one_row_training_batch(rng):
    net = _net("batch_norm")
    X, y = _data(rng, 5)
    with pytest.raises(ValueError, match="BatchNorm needs at least two rows"):
        net.loss_grad(X[:1], y[:1])
    with pytest.raises(ValueError, match="BatchNorm needs at least two rows"):
        net.fit(X, y, batch_size=1)
    before = net.params.copy()
    with pytest.raises(ValueError, match="BatchNorm needs at least two rows"):
        net.fit(X[:1], y[:1], batch_size=4)
    np.testing.assert_array_equal(net.params, before)
    net.predict(X[:1])  # evaluation uses the running statistics: one row is fine


def test_a_last_batch_of_one_row_is_skipped_with_batch_norm(rng):
    X, y = _data(rng, 9)
    net = _net("batch_norm")
    steps = []
    net.fit(X, y, epochs=2, batch_size=4, shuffle=False, optimizer=fastbp.SGD(lr=0.1),
            callbacks=[lambda info: steps.append(info["optimizer"].step_count)])  # fmt: skip
    assert steps == [2, 4]  # 9 rows: batches of 4, 4 and a skipped one
    same = _net("batch_norm")
    same.fit(X[:8], y[:8], epochs=2, batch_size=4, shuffle=False, optimizer=fastbp.SGD(lr=0.1))
    np.testing.assert_array_equal(net.params, same.params)


def test_two_dropouts_after_one_dense_layer_draw_their_own_masks():
    """Each unit survives both masks with probability 1/4 and is then scaled by 4: a mean square of 4.

    With one mask shared by both, it would survive with probability 1/2: a mean square of 8.
    """
    net = fastbp.Sequential(1, [L.Dense(4000, bias=False), L.Dropout(0.5), L.Dropout(0.5)], dtype="float64")
    net.params[:] = 1.0
    loss, _ = net.loss_grad(np.ones((1, 1)), np.zeros((1, 4000)), dropout_seed=3)
    assert 3.5 < loss < 4.5
    codes = net.plan.ops[net.plan.ops[:, table.KIND] == table.DROPOUT, table.CODE]
    assert len(set(codes.tolist())) == 2


# ------------------------------------------------------------------ the public API
def test_parameters_and_buffers_are_named_views_in_flat_order():
    net = fastbp.Sequential(
        20, [L.Dense(64), L.BatchNorm(), L.ReLU(), L.Dropout(0.1),
             L.Residual(L.Dense(64), L.LayerNorm(), L.GELU()), L.Dense(3)],
        loss="cross_entropy", dtype="float32", seed=0,
    )  # fmt: skip
    names = [(n, v.shape) for n, v in net.parameters()]
    assert names == [
        ("0.weight", (20, 64)), ("0.bias", (64,)), ("1.weight", (64,)), ("1.bias", (64,)),
        ("4.0.weight", (64, 64)), ("4.0.bias", (64,)), ("4.1.weight", (64,)), ("4.1.bias", (64,)),
        ("5.weight", (64, 3)), ("5.bias", (3,)),
    ]  # fmt: skip
    assert np.shares_memory(net.parameters()[2][1], net.params)
    assert np.concatenate([v.ravel() for _, v in net.parameters()]).tobytes() == net.params.tobytes()
    assert [(n, v.shape) for n, v in net.buffers()] == [("1.running_mean", (64,)), ("1.running_var", (64,))]
    np.testing.assert_array_equal(dict(net.buffers())["1.running_var"], 1.0)
    np.testing.assert_array_equal(dict(net.parameters())["4.1.weight"], 1.0)
    assert net.sizes == (20, 64, 64, 3)
    assert net.predict(np.zeros((2, 20), dtype=np.float32)).shape == (2, 3)


def test_mlp_builds_the_same_network_as_before(rng):
    """MLP is now a Sequential: same initial weights as the explicit layer list, same masks."""
    net = fastbp.MLP([5, 7, 6, 3], activation=["tanh", "relu"], dropout=[0.2, 0.0], seed=3)
    seq = fastbp.Sequential(
        5, [L.Dense(7), L.Tanh(), L.Dropout(0.2), L.Dense(6), L.ReLU(), L.Dense(3)], seed=3
    )
    np.testing.assert_array_equal(net.params, seq.params)
    assert net.plan.ops.tolist() == seq.plan.ops.tolist()
    X, y = _data(rng, 20)
    net.fit(X, y, epochs=2, batch_size=8)
    seq.fit(X, y, epochs=2, batch_size=8)
    np.testing.assert_array_equal(net.params, seq.params)


@pytest.mark.parametrize("norm", [None, "layer", "batch"])
def test_mlp_norm_and_residual_options(norm, rng):
    net = fastbp.MLP([5, 8, 8, 3], norm=norm, residual=True, loss="cross_entropy", dtype="float64", seed=1)
    kinds = [layer.kind for layer in net.layers]
    inner = [layer.kind for layer in net.layers[kinds.index("residual")].layers]
    norm_kind = {"layer": ["layer_norm"], "batch": ["batch_norm"], None: []}[norm]
    assert kinds == ["dense", *norm_kind, "relu", "residual", "dense"]
    assert inner == ["dense", *norm_kind, "relu"]
    X, y = _data(rng, 12, "cross_entropy")
    net.params += 0.1 * rng.normal(size=net.n_params)
    assert fastbp.gradcheck(net, X, y) < TOL
    assert "norm=" in repr(net) if norm else "residual=True" in repr(net)


def _compiled_functions():
    """Every numba dispatcher defined in a fastbp module, by qualified name."""
    import importlib
    import pkgutil

    import numba

    found = {}
    for info in pkgutil.walk_packages(fastbp.__path__, "fastbp."):
        if info.name.endswith(("estimators", "benchmark", "cli", "__main__", "dask")):
            continue  # optional extras; they define no compiled code
        module = importlib.import_module(info.name)
        for value in vars(module).values():
            if isinstance(value, numba.core.registry.CPUDispatcher) and value.py_func.__module__.startswith(
                "fastbp"
            ):
                found[f"{value.py_func.__module__}.{value.py_func.__qualname__}"] = value
    return found


def test_no_compiled_function_takes_more_than_eight_arguments():
    found = _compiled_functions()
    assert len(found) > 40 and "fastbp.kernels.network._loss_gradient" in found
    counts = {name: f.py_func.__code__.co_argcount for name, f in found.items()}
    assert max(counts.values()) <= 8, {name: n for name, n in counts.items() if n > 8}


def test_a_diverged_fit_leaves_the_running_statistics_finite(rng):
    """The running statistics move only once a step is applied: a refused step leaves them as they were."""
    net = fastbp.Sequential(3, [L.Dense(4), L.ReLU(), L.Dense(4), L.BatchNorm(), L.Dense(2)], dtype="float64")
    X, y = rng.normal(size=(16, 3)) * 100, rng.normal(size=(16, 2)) * 100
    with pytest.raises(fastbp.TrainingDiverged):
        net.fit(X, y, epochs=50, batch_size=4, optimizer=fastbp.SGD(lr=1e12))
    # the weights of the last applied step are huge but finite, and so are the statistics of its batch
    assert np.isfinite(net.running_stats).all() and np.isfinite(net.params).all()


def test_lbfgs_refuses_batch_norm():
    pytest.importorskip("sklearn")
    X = np.random.default_rng(0).normal(size=(20, 3))
    with pytest.raises(ValueError, match="lbfgs"):
        fastbp.MLPRegressor(hidden_layer_sizes=(4,), norm="batch", solver="lbfgs").fit(X, X[:, 0])


@pytest.mark.parametrize("dropout", [0.0, 0.2])
@pytest.mark.parametrize("batch", [16, 200])  # a serial pass, and parallel chunks
def test_a_plan_runs_on_the_passes_its_kinds_need_and_they_agree_with_the_full_ones(
    dropout, batch, monkeypatch
):
    """MLPs compile passes without the norm kernels (a first run's compile time), with the same results."""
    from fastbp.plan import Plan

    rng = np.random.default_rng(3)
    X, y = rng.normal(size=(400, 4)), rng.integers(0, 3, 400)
    own = fastbp.MLP([4, 16, 8, 3], activation="tanh", loss="cross_entropy", dropout=dropout, dtype="float64")
    assert own.plan.family == ("mlp" if dropout else "dense")
    assert _net("batch_norm").plan.family == "full"
    full = own.copy()
    own.fit(X, y, epochs=2, batch_size=batch)
    expected = own.predict(X), own.evaluate(X, y), own.loss_grad(X, y, dropout_seed=1)
    monkeypatch.setattr(Plan, "family", property(lambda plan: "full"))
    full.fit(X, y, epochs=2, batch_size=batch)
    np.testing.assert_array_equal(full.params, own.params)
    np.testing.assert_array_equal(full.predict(X), expected[0])
    assert full.evaluate(X, y) == expected[1]
    assert full.loss_grad(X, y, dropout_seed=1)[0] == expected[2][0]
    np.testing.assert_array_equal(full.loss_grad(X, y, dropout_seed=1)[1], expected[2][1])
