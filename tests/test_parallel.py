"""The parallel (chunked) training path against the serial one, and the thread settings."""

import numba
import numpy as np
import pytest

import fastbp
from fastbp.kernels import network, table
from fastbp.workspace import Workspace, chunk_rows_for


def _chunked_and_serial(net, X, y, rows, chunk_rows, drop_key, shuffle, rng, sw=None):
    """Gradient of one batch through the chunked kernel and through one serial pass."""
    X, y2d, labels = net._check_xy(X, y)
    sw = np.empty(0) if sw is None else sw
    n = X.shape[0]
    order = rng.permutation(n).astype(np.int64) if shuffle else np.empty(0, np.int64)
    start = 3
    n_targets = 0 if labels.size else y2d.shape[1]
    mode = table.TRAIN | table.DROPOUT_ON
    ws = Workspace(net.plan, rows, net.dtype, training=True, gather=True, n_targets=n_targets,
                   chunk_rows=chunk_rows, weighted=sw.size > 0)  # fmt: skip
    grad = np.empty_like(net.params)
    loss, _ = network.loss_gradient_parallel(
        net._net(), grad, table.Data(X, y2d, labels, sw), ws.bundle(order),
        table.Batch(start, rows, shuffle, drop_key, mode, False),
    )  # fmt: skip
    index = order[start : start + rows] if shuffle else np.arange(start, start + rows)
    batch = (X[index], labels[index] if labels.size else y2d[index], sw[index] if sw.size else sw)
    _, by, blabels = net._check_xy(batch[0], batch[1])
    serial_ws = Workspace(net.plan, rows, net.dtype, training=True)
    serial_grad = np.empty_like(net.params)
    serial_loss, _ = network.loss_gradient(
        net._net(), serial_grad, table.Data(batch[0], by, blabels, batch[2]),
        serial_ws.bundle(np.empty(0, np.int64)), table.Batch(0, rows, False, drop_key, mode, True),
    )  # fmt: skip
    return loss, grad, serial_loss, serial_grad


@pytest.mark.parametrize("weighted", [False, True])
@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("loss,n_out", [("mse", 3), ("cross_entropy", 4)])
def test_chunked_gradient_equals_one_serial_pass(loss, n_out, shuffle, weighted, rng):
    """Odd batch (101 rows in chunks of 32: the last chunk is short), dropout, L2, row weights."""
    net = fastbp.MLP([5, 9, 7, n_out], activation=["tanh", "relu"], loss=loss, dropout=[0.3, 0.1],
                     alpha=0.01, dtype="float64", seed=0)  # fmt: skip
    X = rng.normal(size=(130, 5))
    y = rng.integers(0, n_out, size=130) if loss == "cross_entropy" else rng.normal(size=(130, n_out))
    sw = rng.uniform(0, 2, size=130) if weighted else None
    chunked = _chunked_and_serial(net, X, y, 101, 32, np.uint64(77), shuffle, rng, sw)
    assert chunked[0] == pytest.approx(chunked[2], rel=1e-12)
    np.testing.assert_allclose(chunked[1], chunked[3], rtol=1e-12, atol=1e-14)


def test_chunk_split_depends_on_the_network_and_batch_only():
    narrow, wide = fastbp.MLP([4, 32, 16, 4]).plan, fastbp.MLP([64, 64, 10]).plan
    assert chunk_rows_for(narrow, 10_000) == 256  # 40 chunks, the last one of 16 rows
    assert chunk_rows_for(narrow, 100_000) == 1568  # at most 64 chunks, rows a multiple of 32
    assert chunk_rows_for(narrow, 300) == 160  # two chunks: 160 and 140 rows
    assert chunk_rows_for(narrow, 64) == 32
    assert chunk_rows_for(narrow, 63) == 0  # fewer than two chunks: one serial pass
    assert chunk_rows_for(wide, 10_000) == 0  # wide layers: BLAS


@pytest.mark.parametrize("sizes,batch", [([4, 32, 16, 4], 1000), ([64, 64, 10], 64), ([10, 5, 1], 32)])
def test_training_is_bit_identical_for_any_thread_count(sizes, batch, rng):
    X = rng.normal(size=(3001, sizes[0])).astype(np.float32)  # odd: the last batch is short
    y = rng.normal(size=(3001, sizes[-1])).astype(np.float32)
    results = []
    for threads in sorted({1, 2, numba.config.NUMBA_NUM_THREADS}):
        net = fastbp.MLP(sizes, activation="tanh", dropout=0.1, seed=4)
        net.fit(X, y, epochs=2, batch_size=batch, n_threads=threads)
        results.append(net.params)
    for other in results[1:]:
        np.testing.assert_array_equal(other, results[0])


def test_thread_settings_are_checked_and_restored():
    before = numba.get_num_threads()
    net = fastbp.MLP([4, 32, 16, 4], activation="tanh")
    X = np.zeros((200, 4), np.float32)
    net.fit(X, np.zeros((200, 4), np.float32), epochs=1, batch_size=100, n_threads=1)
    net.predict(X, n_threads=1)
    assert numba.get_num_threads() == before
    with pytest.raises(ValueError, match="n_threads"):
        net.predict(X, n_threads=0)
    with pytest.raises(ValueError, match="exceeds"):
        net.predict(X, n_threads=numba.config.NUMBA_NUM_THREADS + 1)
    fastbp.set_num_threads(1)
    try:
        assert fastbp.get_num_threads() == 1
    finally:
        fastbp.set_num_threads(None)
    assert fastbp.get_num_threads() <= numba.config.NUMBA_NUM_THREADS


def test_omp_num_threads_lowers_the_default(monkeypatch):
    from fastbp import threads

    monkeypatch.delenv("NUMBA_NUM_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert threads._env_default() == 1


def test_fit_on_the_chunked_path_matches_the_serial_path(rng, monkeypatch):
    """Whole fits (shuffle, dropout, one-hot targets, a short last batch) agree across the two paths."""
    from fastbp import sequential

    X = rng.normal(size=(1001, 4))
    y = np.eye(3)[rng.integers(0, 3, size=1001)]
    chunked = fastbp.MLP([4, 16, 8, 3], activation="tanh", loss="cross_entropy", dropout=0.2,
                         dtype="float64", seed=1)  # fmt: skip
    serial = chunked.copy()
    assert chunk_rows_for(chunked.plan, 200) > 0
    hist_chunked = chunked.fit(X, y, epochs=3, batch_size=200)
    monkeypatch.setattr(sequential, "chunk_rows_for", lambda plan, rows: 0)
    hist_serial = serial.fit(X, y, epochs=3, batch_size=200)
    np.testing.assert_allclose(chunked.params, serial.params, rtol=1e-9, atol=1e-12)
    np.testing.assert_allclose(hist_chunked.loss, hist_serial.loss, rtol=1e-10)


def test_predict_from_several_python_threads_at_once(rng):
    from concurrent.futures import ThreadPoolExecutor

    net = fastbp.MLP([20, 64, 32, 5], loss="cross_entropy", seed=0)
    inputs = [rng.normal(size=(n, 20)).astype(np.float32) for n in (1, 7, 64, 500, 5000) * 4]
    expected = [net.predict(X) for X in inputs]
    with ThreadPoolExecutor(max_workers=4) as pool:
        results = list(pool.map(net.predict, inputs))
    for got, want in zip(results, expected):
        np.testing.assert_array_equal(got, want)


def test_no_allocation_per_batch_inside_the_epoch():
    """numba's allocation counter grows by the same amount for an epoch of 10 batches and of 100."""
    import subprocess
    import sys
    import textwrap

    code = textwrap.dedent("""
        import numpy as np, fastbp
        from numba.core.runtime import rtsys
        for sizes, rows in (([8, 16, 1], 32), ([8, 32, 16, 1], 64)):  # serial and chunked paths
            X = np.random.default_rng(0).normal(size=(6400, 8)).astype(np.float32)
            y = X[:, :1].copy()
            net = fastbp.MLP(sizes, activation="tanh")
            net.fit(X[:640], y[:640], epochs=1, batch_size=rows)  # compile
            counts = []
            for n in (10 * rows, 100 * rows):
                before = rtsys.get_allocation_stats().alloc
                net.fit(X[:n], y[:n], epochs=1, batch_size=rows)
                counts.append(rtsys.get_allocation_stats().alloc - before)
            print(counts[0], counts[1])
    """)
    env = {**__import__("os").environ, "NUMBA_NRT_STATS": "1"}
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, timeout=600
    )
    assert result.returncode == 0, result.stderr
    for line in result.stdout.split("\n")[-3:-1]:
        few, many = map(int, line.split())
        assert few == many, (few, many)
