"""Dense (fully connected) layer: ``z = x @ w + b`` and its gradients.

The matrix products go through ``np.dot``, which Numba lowers to a BLAS
``gemm`` call (scipy's BLAS).  They are called outside any ``prange`` so a
threaded BLAS never runs inside our own thread pool.
"""

import numpy as np

from .._jit import jit


@jit
def dense_forward(z, x, w, b):
    """z = x @ w + b.

    z : (n, out), written.  x : (n, in).  w : (in, out).  b : (out,).
    """
    np.dot(x, w, z)
    n, n_out = z.shape
    for i in range(n):
        for j in range(n_out):
            z[i, j] += b[j]


@jit
def dense_backward_params(dz, x, gw, gb):
    """Weight and bias gradients, overwritten (not accumulated).

    dz : (n, out) gradient of the loss w.r.t. z.  x : (n, in) the layer input.
    gw : (in, out) receives x.T @ dz.  gb : (out,) receives the column sums of dz.
    """
    np.dot(x.T, dz, gw)
    n, n_out = dz.shape
    gb[:] = 0.0
    for i in range(n):
        for j in range(n_out):
            gb[j] += dz[i, j]


@jit
def dense_backward_input(dx, dz, w):
    """Gradient w.r.t. the layer input: dx = dz @ w.T.

    dx : (n, in), written.  dz : (n, out).  w : (in, out).
    """
    np.dot(dz, w.T, dx)
