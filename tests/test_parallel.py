"""The parallel (chunked) training path against the serial one, and the thread settings."""

import numba
import numpy as np
import pytest

import fastbp
from fastbp.kernels import network
from fastbp.workspace import Workspace, chunk_rows_for


def _chunked_and_serial(net, X, y, rows, chunk_rows, drop_key, shuffle, rng):
    """Gradient of one batch through the chunked kernel and through one serial pass."""
    X, y2d, labels = net._check_xy(X, y)
    n = X.shape[0]
    order = rng.permutation(n).astype(np.int64) if shuffle else np.empty(0, np.int64)
    start = 3
    n_targets = 0 if labels.size else y2d.shape[1]
    sizes, w_off, b_off, acts = net._net_args()
    ws = Workspace(net.layout, rows, net.dtype, dropout=True, gather=True, n_targets=n_targets,
                   chunk_rows=chunk_rows)  # fmt: skip
    grad = np.empty_like(net.params)
    loss = network.chunked_loss_gradient(
        net.params, grad, ws.chunk_grads, ws.chunk_loss, sizes, w_off, b_off, acts, net._drop, ws.act_off,
        net._loss_code, net.alpha, X, y2d, labels, order, start, rows, shuffle, chunk_rows,
        ws.xb, ws.yb, ws.lb, ws.zbuf, ws.abuf, ws.hbuf, ws.dbuf, ws.dbuf2, drop_key,
    )  # fmt: skip
    index = order[start : start + rows] if shuffle else np.arange(start, start + rows)
    batch_y = labels[index] if labels.size else y2d[index]
    serial_ws = Workspace(net.layout, rows, net.dtype, dropout=True)
    serial_grad = np.empty_like(net.params)
    serial_loss = net._loss_grad_into(X[index], *net._check_xy(X[index], batch_y)[1:], serial_grad, serial_ws,
                                      net._drop, drop_key)  # fmt: skip
    return loss, grad, serial_loss, serial_grad


@pytest.mark.parametrize("shuffle", [False, True])
@pytest.mark.parametrize("loss,n_out", [("mse", 3), ("cross_entropy", 4)])
def test_chunked_gradient_equals_one_serial_pass(loss, n_out, shuffle, rng):
    """Odd batch (101 rows in chunks of 32: the last chunk is short), dropout, L2."""
    net = fastbp.MLP([5, 9, 7, n_out], activation=["tanh", "relu"], loss=loss, dropout=[0.3, 0.1],
                     alpha=0.01, dtype="float64", seed=0)  # fmt: skip
    X = rng.normal(size=(130, 5))
    y = rng.integers(0, n_out, size=130) if loss == "cross_entropy" else rng.normal(size=(130, n_out))
    chunked = _chunked_and_serial(net, X, y, 101, 32, np.uint64(77), shuffle, rng)
    assert chunked[0] == pytest.approx(chunked[2], rel=1e-12)
    np.testing.assert_allclose(chunked[1], chunked[3], rtol=1e-10, atol=1e-14)


def test_chunk_split_depends_on_the_network_and_batch_only():
    narrow, wide = fastbp.MLP([4, 32, 16, 4]).layout, fastbp.MLP([64, 64, 10]).layout
    assert chunk_rows_for(narrow, 10_000) == 157  # 64 chunks
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
