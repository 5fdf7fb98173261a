"""Every kernel against the plain NumPy reference, at awkward sizes, in float32 and float64."""

import numba
import numpy as np
import pytest
import reference as ref
from conftest import tolerance
from reference import ACTIVATIONS, LOSSES

import fastbp
from fastbp._jit import PARALLEL_MIN_ELEMENTS
from fastbp.kernels import activations, dense, fastmath, losses, network, optimizers
from fastbp.kernels.network import shuffled_order

DTYPES = [np.float32, np.float64]
ELEMENT_COUNTS = [1, 7, 1001]


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ACTIVATIONS)
@pytest.mark.parametrize("n", ELEMENT_COUNTS)
def test_activation_matches_reference(name, dtype, n, rng):
    z = (rng.normal(size=n) * 3).astype(dtype)
    z[0] = 25.0 if n > 1 else z[0]  # past softplus's linear threshold
    a = np.empty_like(z)
    activations.activation_forward(activations.CODES[name], z, a)
    np.testing.assert_allclose(a, ref.activation(name, z), **tolerance(dtype))
    g = rng.normal(size=n).astype(dtype)
    expected = g * ref.activation_derivative(name, z)
    dx = np.full_like(g, np.nan)
    activations.activation_backward(activations.CODES[name], z, a, g, dx)
    np.testing.assert_allclose(dx, expected, **tolerance(dtype))
    activations.activation_backward(activations.CODES[name], z, a, g, g)  # in place
    np.testing.assert_allclose(g, expected, **tolerance(dtype))


def test_activations_stay_finite_for_extreme_inputs():
    z = np.array([-1e4, -750.0, -50.0, 0.0, 50.0, 750.0, 1e4])
    for name in ACTIVATIONS:
        a = np.empty_like(z)
        activations.activation_forward(activations.CODES[name], z, a)
        g = np.ones_like(z)
        activations.activation_backward(activations.CODES[name], z, a, g, g)
        assert np.isfinite(a).all() and np.isfinite(g).all(), name


def sum_tolerance(dtype, terms):
    """``tolerance`` widened for float32 sums of ``terms`` unit-size products (error about eps * terms)."""
    tol = tolerance(dtype)
    if np.dtype(dtype) == np.float32:
        tol = {**tol, "atol": max(tol["atol"], 1e-7 * terms)}
    return tol


# the last two are issued to BLAS in row pieces (dense.piece_rows), the last with a short final piece
DENSE_SHAPES = [
    (1, 1, 1),
    (1, 5, 3),
    (9, 1, 4),
    (33, 17, 1),
    (40, 6, 10),
    (64, 31, 7),
    (200, 64, 100),
    (203, 64, 100),
]


@pytest.mark.parametrize("blas", [True, False], ids=["blas", "loops"])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,n_in,n_out", DENSE_SHAPES)
def test_dense_matches_reference(n, n_in, n_out, dtype, blas, rng):
    x = rng.normal(size=(n, n_in)).astype(dtype)
    w = rng.normal(size=(n_in, n_out)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    z = np.empty((n, n_out), dtype=dtype)
    dense.dense_forward(z, x, w, b, blas)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    np.testing.assert_allclose(z, x64 @ w64 + b, **sum_tolerance(dtype, n_in))

    dz = rng.normal(size=(n, n_out)).astype(dtype)
    gw = np.full((n_in, n_out), np.nan, dtype=dtype)  # must be overwritten, not accumulated
    gb = np.full(n_out, np.nan, dtype=dtype)
    dense.dense_backward_params(dz, x, gw, gb, blas, np.empty(gw.size, dtype))
    np.testing.assert_allclose(gw, x64.T @ dz, **sum_tolerance(dtype, n))
    np.testing.assert_allclose(gb, dz.astype(np.float64).sum(axis=0), **sum_tolerance(dtype, n))
    dx = np.empty_like(x)
    dense.dense_backward_input(dx, dz, w, blas, False, np.empty(0, dtype))
    np.testing.assert_allclose(dx, dz.astype(np.float64) @ w64.T, **sum_tolerance(dtype, n_out))
    before = rng.normal(size=x.shape).astype(dtype)  # accumulating, as inside a residual block
    dx = before.copy()
    dense.dense_backward_input(dx, dz, w, blas, True, np.empty(x.size, dtype))
    np.testing.assert_allclose(dx, before + dz.astype(np.float64) @ w64.T, **sum_tolerance(dtype, n_out))


def test_blas_pieces_stay_under_the_serial_size_and_cover_the_rows():
    assert dense.piece_rows(64, 64, 64) == 64  # at OpenBLAS's serial size already: one call
    assert dense.piece_rows(128, 784, 256) == 128  # large: one call on BLAS's threads
    assert dense.piece_rows(200, 1, 1000) == 200  # pieces would be under MIN_PIECE_ROWS
    for n, n_in, n_out in [(200, 64, 100), (203, 64, 100), (256, 64, 64), (1000, 30, 100)]:
        rows = dense.piece_rows(n, n_in, n_out)
        assert dense.MIN_PIECE_ROWS <= rows < n
        assert rows * n_in * n_out <= dense.BLAS_SERIAL_MNK


@pytest.mark.parametrize("dtype", DTYPES)
def test_weight_gradient_without_scratch_is_one_product(dtype, rng):
    x = rng.normal(size=(200, 64)).astype(dtype)
    dz = rng.normal(size=(200, 100)).astype(dtype)
    whole, pieces = np.empty((64, 100), dtype), np.empty((64, 100), dtype)
    dense.dense_backward_params(dz, x, whole, np.empty(100, dtype), True, np.empty(0, dtype))
    dense.dense_backward_params(dz, x, pieces, np.empty(100, dtype), True, np.empty(6400, dtype))
    exact = x.astype(np.float64).T @ dz
    np.testing.assert_allclose(whole, exact, **sum_tolerance(dtype, 200))
    np.testing.assert_allclose(pieces, exact, **sum_tolerance(dtype, 200))


def test_float32_logistic_keeps_relative_accuracy_in_its_tail():
    z = np.array([-80.0, -30.0, -12.0, -1.0, 0.0, 12.0], dtype=np.float32)
    for name in ("sigmoid", "silu"):
        a = np.empty_like(z)
        activations.activation_forward(activations.CODES[name], z, a)
        exact = ref.activation(name, z.astype(np.float64))
        np.testing.assert_allclose(a, exact, rtol=1e-6, atol=1e-37)


@pytest.mark.parametrize("name", ["tanh", "sigmoid"])
def test_float32_fast_functions_are_accurate(name):
    """tanh uses a rational approximation in float32: within 4e-7 everywhere."""
    positive = np.linspace(0, 30, 100_001)[1:].astype(np.float32)
    z = np.concatenate([-positive[::-1], [np.float32(0)], positive])
    a = np.empty_like(z)
    activations.activation_forward(activations.CODES[name], z, a)
    exact = ref.activation(name, z.astype(np.float64))
    assert np.max(np.abs(a - exact)) < 4e-7
    small = np.abs(z) < 1
    if name == "tanh":  # relative accuracy near zero, and odd symmetry
        assert np.max(np.abs(a[small] - exact[small]) / np.maximum(np.abs(exact[small]), 1e-30)) < 4e-7
        np.testing.assert_array_equal(a, -a[::-1])
    assert np.all(np.diff(a) >= -4e-7)  # monotone up to the approximation error


@numba.njit
def _exp_each(x, out):
    for i in range(x.size):
        out[i] = fastmath.exp(x[i])


exp = numba.njit(lambda v: fastmath.exp(v))


def test_float32_exp_is_within_two_ulp_and_keeps_special_values():
    """The vectorisable float32 exp behind softmax: 2 ulp where the result is normal."""
    x = np.linspace(-87.3, 88.72, 1_000_001).astype(np.float32)
    out = np.empty_like(x)
    _exp_each(x, out)
    exact = np.exp(x.astype(np.float64))
    assert np.max(np.abs(out - exact) / exact) < 2 * 2.0**-24
    assert exp(np.float32(0.0)) == 1.0
    assert exp(np.float32(-88.0)) == 0.0  # would be subnormal: flushed
    assert exp(np.float32(-np.inf)) == 0.0
    assert exp(np.float32(89.0)) == np.inf and exp(np.float32(np.inf)) == np.inf
    assert np.isnan(exp(np.float32(np.nan)))
    assert exp(1.0) == np.exp(1.0)  # float64 keeps libm


def _targets(name, n, k, rng, dtype):
    if name == "cross_entropy":
        return rng.integers(0, k, size=n)
    if name == "binary_cross_entropy":
        return (rng.random((n, k)) < 0.5).astype(dtype)
    return rng.normal(size=(n, k)).astype(dtype)


NO_WEIGHTS = np.empty(0)
NO_LABELS = np.empty(0, np.int64)


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", LOSSES)
@pytest.mark.parametrize("n,k", [(1, 1), (1, 3), (5, 1), (17, 4)])
def test_loss_matches_reference(name, n, k, dtype, weighted, rng):
    if name == "cross_entropy" and k == 1:
        k = 2
    out = (rng.normal(size=(n, k)) * 2).astype(dtype)
    target = _targets(name, n, k, rng, dtype)
    if target.ndim == 1:
        y, labels = np.empty((0, k), dtype=dtype), target.astype(np.int64)
    else:
        y, labels = target, np.empty(0, dtype=np.int64)
    w = rng.uniform(0, 3, size=n) if weighted else None
    delta = np.empty_like(out)
    weights = NO_WEIGHTS if w is None else w
    value = losses.loss_and_delta(losses.CODES[name], out, y, labels, weights, delta, True,
                                  losses.weight_sum(weights, n))  # fmt: skip
    expected_value, expected_delta = ref.loss(name, out.astype(np.float64), target, w)
    np.testing.assert_allclose(value, expected_value, **tolerance(dtype))
    np.testing.assert_allclose(delta, expected_delta, **tolerance(dtype))


def test_cross_entropy_soft_targets_match_reference(rng):
    out = rng.normal(size=(6, 4))
    target = rng.dirichlet(np.ones(4), size=6)
    delta = np.empty_like(out)
    value = losses.loss_and_delta(losses.CROSS_ENTROPY, out, target, NO_LABELS, NO_WEIGHTS, delta, True, 6.0)
    expected_value, expected_delta = ref.loss("cross_entropy", out, target)
    np.testing.assert_allclose(value, expected_value, rtol=1e-12)
    np.testing.assert_allclose(delta, expected_delta, rtol=1e-11, atol=1e-14)


def test_logit_losses_are_stable_for_huge_logits():
    out = np.array([[1e4, -1e4], [-1e4, 1e4]])
    delta = np.empty_like(out)
    labels = np.array([1, 1])
    ce = losses.loss_and_delta(
        losses.CROSS_ENTROPY, out, np.empty((0, 2)), labels, NO_WEIGHTS, delta, True, 2.0
    )
    assert ce == pytest.approx(1e4)  # first row is wrong by 2e4 logits, second is right: mean 1e4
    np.testing.assert_allclose(delta, [[0.5, -0.5], [0.0, 0.0]])
    y = np.array([[0.0, 1.0], [1.0, 0.0]])
    bce = losses.loss_and_delta(losses.BINARY_CROSS_ENTROPY, out, y, NO_LABELS, NO_WEIGHTS, delta, True, 2.0)
    assert bce == pytest.approx(1e4)  # every element off by 1e4
    np.testing.assert_allclose(delta, [[0.25, -0.25], [-0.25, 0.25]])


@pytest.mark.parametrize("dtype", DTYPES)
def test_output_transform(dtype, rng):
    z = (rng.normal(size=(5, 3)) * 4).astype(dtype)
    out = np.empty_like(z)
    losses.output_transform(losses.CROSS_ENTROPY, z, out)
    np.testing.assert_allclose(out, np.exp(ref.log_softmax(z.astype(np.float64))), **tolerance(dtype))
    losses.output_transform(losses.BINARY_CROSS_ENTROPY, z, out)
    np.testing.assert_allclose(out, ref.sigmoid(z.astype(np.float64)), **tolerance(dtype))
    losses.output_transform(losses.MSE, z, out)
    np.testing.assert_array_equal(out, z)


def test_optimizer_parallel_matches_serial(rng):
    n = 100_003
    cases = [
        (fastbp.SGD(momentum=0.9, nesterov=True, weight_decay=0.01)),
        (fastbp.Adam(weight_decay=0.01)),
        (fastbp.AdamW(weight_decay=0.01)),
        (fastbp.RMSprop(momentum=0.9, weight_decay=0.01, centered=True)),
        (fastbp.Adagrad(lr_decay=0.01, weight_decay=0.01)),
    ]
    for opt in cases:
        p_s = rng.normal(size=n)
        p_p = p_s.copy()
        s_s, s_p = np.zeros((opt.n_state, n)), np.zeros((opt.n_state, n))
        for step in range(1, 4):
            g = rng.normal(size=n)
            opt.kernel.update_serial(opt.hyper(), 1e-2, step, p_s, g, s_s)
            opt.kernel.update_parallel(opt.hyper(), 1e-2, step, p_p, g, s_p)
        # the twins may contract a*b+c into an FMA differently: equal to the last bit or two
        np.testing.assert_allclose(p_p, p_s, rtol=1e-13, atol=1e-15)
        np.testing.assert_allclose(s_p, s_s, rtol=1e-10, atol=1e-14)  # centered RMSprop cancels


def test_shuffled_order_is_a_seeded_permutation():
    a, b, c = (np.empty(1000, dtype=np.int64) for _ in range(3))
    shuffled_order(a, np.uint64(1))
    shuffled_order(b, np.uint64(1))
    shuffled_order(c, np.uint64(2))
    np.testing.assert_array_equal(np.sort(a), np.arange(1000))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    assert not np.array_equal(a, np.arange(1000))


def test_parallel_twins_have_their_own_cache_entries():
    """numba's cache keys by qualified name: the twins must not share one, or they swap code."""
    for serial, parallel in [
        *[(module.update_serial, module.update_parallel) for _, module in optimizers.KINDS.values()],
    ]:
        assert serial.py_func.__qualname__ != parallel.py_func.__qualname__
        assert parallel.targetoptions.get("parallel") and not serial.targetoptions.get("parallel")


def test_large_arrays_take_the_parallel_path_and_agree(rng):
    n = PARALLEL_MIN_ELEMENTS + 1
    params, grad = rng.normal(size=n), rng.normal(size=n)
    expected = params - 0.1 * grad
    optimizers.optimizer_update_parallel(
        optimizers.SGD, fastbp.SGD(lr=0.1).hyper(), 0.1, 1, params, grad, np.zeros((1, n))
    )
    np.testing.assert_allclose(params, expected, rtol=1e-14, atol=1e-15)  # FMA rounding


def test_only_networks_of_parallel_size_run_an_epoch_with_the_parallel_optimizer_loops():
    small, big = fastbp.MLP([4, 8, 2]), fastbp.MLP([2048, 2048, 2])
    assert big.n_params >= PARALLEL_MIN_ELEMENTS > small.n_params
    for chunked in (False, True):
        assert small._epoch_kernel(chunked).py_func.__globals__["_step"] is network._step
        step = big._epoch_kernel(chunked).py_func.__globals__["_step"]
        assert step.py_func.__globals__["optimizer_update"] is optimizers.optimizer_update_parallel
        assert big._epoch_kernel(chunked) is not small._epoch_kernel(chunked)
        assert small._epoch_kernel(chunked) is small._epoch_kernel(chunked)  # built once


def test_a_borrowed_view_reads_and_writes_the_memory_of_its_owner():
    from fastbp.kernels.blocks import borrowed

    @numba.njit
    def fill(a):
        view = borrowed(a)[2:5]
        view[:] = 7.0
        return borrowed(a).sum()

    a = np.zeros(6)
    assert fill(a) == 21.0
    np.testing.assert_array_equal(a, [0, 0, 7, 7, 7, 0])


def test_fastbp_compiles_at_its_own_llvm_level_and_leaves_numbas_setting_alone():
    from numba.core import config

    from fastbp import _jit

    def add_one(x):
        return x + 1

    def add_one_parallel(x):
        for i in numba.prange(x.size):
            x[i] += 1

    before = config.OPT
    assert network.train_epoch._compiler.pipeline_class is _jit.Pipeline
    kernel = numba.njit(**{**_jit.JIT_OPTIONS, "cache": False})(add_one)
    assert kernel(1) == 2
    parallel = numba.njit(parallel=True, **{**_jit.JIT_OPTIONS, "cache": False})(add_one_parallel)
    ones = np.ones(3)
    parallel(ones)
    np.testing.assert_array_equal(ones, 2.0)
    expected = ((kernel, "fastbp_native_lowering"), (parallel, "fastbp_native_parfor_lowering"))
    for dispatcher, lowering in expected:
        passes = dispatcher.get_metadata(dispatcher.signatures[0])["pipeline_times"]["nopython"]
        assert any(name.endswith(lowering) for name in passes), list(passes)  # the parallel one too
    assert config.OPT == before and type(config.OPT) is type(before)


def test_kernel_caches_are_stamped_with_every_kernel_source(tmp_path):
    """A change to any file of compiled code must invalidate every cached kernel."""
    from fastbp import _jit
    from fastbp.kernels import network

    locator = network.train_epoch._cache._impl.locator
    assert locator.get_source_stamp() == _jit.source_stamp()
    package = tmp_path / "pkg"
    (package / "kernels").mkdir(parents=True)
    (package / "kernels" / "optimizers.py").write_text("x = 1\n")
    (package / "_jit.py").write_text("options = 1\n")
    (package / "model.py").write_text("y = 1\n")
    before = _jit.source_stamp(package)
    (package / "model.py").write_text("y = 2\n")  # no compiled code: the cache stays valid
    assert _jit.source_stamp(package) == before
    (package / "kernels" / "optimizers.py").write_text("x = 2\n")
    changed = _jit.source_stamp(package)
    assert changed != before
    (package / "_jit.py").write_text("options = 2\n")
    assert _jit.source_stamp(package) != changed


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n,n_in,n_out", DENSE_SHAPES)
def test_feature_major_dense_matches_reference(n, n_in, n_out, dtype, rng):
    fm = dense  # the feature-major loops of the parallel chunks
    x = rng.normal(size=(n, n_in)).astype(dtype)
    w = rng.normal(size=(n_in, n_out)).astype(dtype)
    b = rng.normal(size=n_out).astype(dtype)
    x64, w64 = x.astype(np.float64), w.astype(np.float64)
    zT = np.empty((n_out, n), dtype=dtype)
    fm.dense_forward_fm(zT, np.ascontiguousarray(x.T), w, b)
    np.testing.assert_allclose(zT.T, x64 @ w64 + b, **sum_tolerance(dtype, n_in))
    dz = rng.normal(size=(n, n_out)).astype(dtype)
    gw = np.full((n_in, n_out), np.nan, dtype=dtype)
    gb = np.full(n_out, np.nan, dtype=dtype)
    fm.dense_backward_params_fm(np.ascontiguousarray(dz.T), np.ascontiguousarray(x.T), gw, gb)
    np.testing.assert_allclose(gw, x64.T @ dz, **sum_tolerance(dtype, n))
    np.testing.assert_allclose(gb, dz.astype(np.float64).sum(axis=0), **sum_tolerance(dtype, n))
    dxT = np.full((n_in, n), np.nan, dtype=dtype)
    fm.dense_backward_input_fm(dxT, np.ascontiguousarray(dz.T), w, False)
    np.testing.assert_allclose(dxT.T, dz.astype(np.float64) @ w64.T, **sum_tolerance(dtype, n_out))
    fm.dense_backward_input_fm(dxT, np.ascontiguousarray(dz.T), w, True)
    np.testing.assert_allclose(dxT.T, 2 * dz.astype(np.float64) @ w64.T, **sum_tolerance(dtype, n_out))
