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


@jit
def dense_forward(z, x, w, b, blas):
    """z = x @ w + b.

    z : (n, out), written.  x : (n, in).  w : (in, out).  b : (out,).
    """
    n, n_out = z.shape
    n_in = x.shape[1]
    if blas:
        np.dot(x, w, z)
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
def dense_backward_params(dz, x, gw, gb, blas):
    """Weight and bias gradients, overwritten (not accumulated).

    dz : (n, out) gradient of the loss w.r.t. z.  x : (n, in) the layer input.
    gw : (in, out) receives x.T @ dz.  gb : (out,) receives the column sums of dz.
    """
    n, n_out = dz.shape
    n_in = x.shape[1]
    gb[:] = 0.0
    for i in range(n):
        for j in range(n_out):
            gb[j] += dz[i, j]
    if blas:
        np.dot(x.T, dz, gw)
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
        np.dot(dz, w.T, dx)
        return
    zero = dx.dtype.type(0)  # accumulate in the arrays' precision, as BLAS does
    for i in range(n):
        for k in range(n_in):
            s = zero
            for j in range(n_out):
                s += dz[i, j] * w[k, j]
            dx[i, k] = s
