"""Dense (fully connected) layer: ``z = x @ w + b`` and its gradients.

Two implementations of each product, chosen per call by ``blas``:

- BLAS ``gemm`` through numba's ``np.dot`` (scipy's BLAS) for large layers.
  Never called inside a ``prange``, so a threaded BLAS never runs inside
  fastbp's own thread pool.
- Plain row-major loops, whose innermost loop runs along contiguous memory (a
  row of ``w``, ``z`` or ``dz``) so LLVM vectorises it.  The parallel chunked
  path uses the feature-major loops of ``feature_major.py`` instead.
"""

import numpy as np

from .._jit import jit

# Measured: even at 32x10x5 a BLAS call is no slower than the loops, and from
# 64x64x64 up it is 3-9x faster, so BLAS is used wherever the caller allows it.

# OpenBLAS runs a product of m*n*k <= 4 * 65536 on the calling thread and a
# larger one on its thread pool.  For mid-sized products the pool costs more
# than it gives on 2 cores: on the digits network (64-100-10, batches of 200)
# an epoch took 103-123 us per batch with one BLAS thread and 125-256 us with
# two, the worse figures when another process held the second core.  So a
# product up to SPLIT_MAX_MNK is issued as row pieces that each stay on the
# calling thread; larger ones (784-256 layers and up) keep BLAS's threads.
# The pieces depend only on the shapes, never on a thread count.
BLAS_SERIAL_MNK = 4 * 65536
SPLIT_MAX_MNK = 1 << 22
MIN_PIECE_ROWS = 16


@jit
def piece_rows(n, n_in, n_out):
    """Rows per BLAS call for a product over ``n`` rows of an (n_in, n_out) weight; ``n`` for one call."""
    mnk = n * n_in * n_out
    if mnk <= BLAS_SERIAL_MNK or mnk > SPLIT_MAX_MNK:
        return n
    most = BLAS_SERIAL_MNK // (n_in * n_out)  # rows that stay on the calling thread
    rows = -(-n // -(-n // most))  # the fewest pieces, as equal as they can be
    return rows if rows >= MIN_PIECE_ROWS else n


@jit
def dense_forward(z, x, w, b, blas):
    """z = x @ w + b.

    z : (n, out), written.  x : (n, in).  w : (in, out).  b : (out,).
    """
    n, n_out = z.shape
    n_in = x.shape[1]
    if blas:
        step = piece_rows(n, n_in, n_out)
        for r in range(0, n, step):
            np.dot(x[r : r + step], w, z[r : r + step])
        for i in range(n):
            for j in range(n_out):
                z[i, j] += b[j]
        return
    for i in range(n):
        for j in range(n_out):
            z[i, j] = b[j]
        for k in range(n_in):
            xik = x[i, k]
            for j in range(n_out):
                z[i, j] += xik * w[k, j]


@jit
def dense_backward_params(dz, x, gw, gb, blas, scratch):
    """Weight and bias gradients, overwritten (not accumulated).

    dz : (n, out) gradient of the loss w.r.t. z.  x : (n, in) the layer input.
    gw : (in, out) receives x.T @ dz.  gb : (out,) receives the column sums of dz.
    scratch : 1-D work space; with at least in * out elements the BLAS
    product is summed over row pieces (see ``piece_rows``).
    """
    n, n_out = dz.shape
    n_in = x.shape[1]
    gb[:] = 0.0
    for i in range(n):
        for j in range(n_out):
            gb[j] += dz[i, j]
    if blas:
        step = piece_rows(n, n_in, n_out)
        if step == n or scratch.size < n_in * n_out:
            np.dot(x.T, dz, gw)
            return
        np.dot(x[:step].T, dz[:step], gw)
        part = scratch[: n_in * n_out].reshape(n_in, n_out)
        for r in range(step, n, step):
            np.dot(x[r : r + step].T, dz[r : r + step], part)
            for k in range(n_in):
                for j in range(n_out):
                    gw[k, j] += part[k, j]
        return
    gw[:, :] = 0.0
    for i in range(n):
        for k in range(n_in):
            xik = x[i, k]
            for j in range(n_out):
                gw[k, j] += xik * dz[i, j]


@jit
def dense_backward_input(dx, dz, w, blas):
    """Gradient w.r.t. the layer input: dx = dz @ w.T.

    dx : (n, in), written.  dz : (n, out).  w : (in, out).
    """
    n, n_in = dx.shape
    n_out = dz.shape[1]
    if blas:
        step = piece_rows(n, n_in, n_out)
        for r in range(0, n, step):
            np.dot(dz[r : r + step], w.T, dx[r : r + step])
        return
    zero = dx.dtype.type(0)  # accumulate in the arrays' precision, as BLAS does
    for i in range(n):
        for k in range(n_in):
            s = zero
            for j in range(n_out):
                s += dz[i, j] * w[k, j]
            dx[i, k] = s
