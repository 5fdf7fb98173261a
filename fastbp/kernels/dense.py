"""Dense (fully connected) layer: ``z = x @ w + b`` and its gradients.

Three implementations of each product, chosen per call by the pass:

- BLAS ``gemm`` through numba's ``np.dot`` (scipy's BLAS) for large layers.
  Never called inside a ``prange``, so a threaded BLAS never runs inside
  fastbp's own thread pool.
- Plain row-major loops, whose innermost loop runs along contiguous memory (a
  row of ``w``, ``z`` or ``dz``) so LLVM vectorises it (``deterministic=True``).
- Feature-major loops (the ``_fm`` kernels) for the parallel chunked passes
  over narrow layers: a block is read as (width, rows), so every innermost
  loop runs along the rows of the chunk (a hundred or more contiguous values)
  whatever the layer's width, and vectorises even for 4-wide layers, where
  the row-major loops cannot.  Measured on the chains grid case (chunks of
  157 rows): 17-26 GFLOP/s on each of its layers against 2.5-40 row-major.

``forward`` and ``backward`` are the op's entries in the network pass.
"""

import numpy as np

from .._jit import jit, jit_inline
from .activations import activation_backward, activation_forward
from .blocks import block, matrix, param_block
from .table import ACC_IN, AUX, BIAS, CODE, D_AUX, D_IN, D_OUT, IN, N_IN, N_OUT, OUT, PARAM, X_BLOCK

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

    z : (n, out), written.  x : (n, in).  w : (in, out).  b : (out,), or empty for no bias.
    """
    n, n_out = z.shape
    n_in = x.shape[1]
    if blas:
        step = piece_rows(n, n_in, n_out)
        for r in range(0, n, step):
            np.dot(x[r : r + step], w, z[r : r + step])
        if b.size:
            for i in range(n):
                for j in range(n_out):
                    z[i, j] += b[j]
        return
    for i in range(n):
        for j in range(n_out):
            z[i, j] = b[j] if b.size else 0.0
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
    if gb.size:
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
def dense_backward_input(dx, dz, w, blas, accumulate, scratch):
    """Gradient w.r.t. the layer input: dx = dz @ w.T, or dx += dz @ w.T when ``accumulate``.

    dx : (n, in).  dz : (n, out).  w : (in, out).
    scratch : 1-D, at least n * in elements when ``accumulate`` and ``blas``.
    """
    n, n_in = dx.shape
    n_out = dz.shape[1]
    if blas:
        target = scratch[: n * n_in].reshape(n, n_in) if accumulate else dx
        step = piece_rows(n, n_in, n_out)
        for r in range(0, n, step):
            np.dot(dz[r : r + step], w.T, target[r : r + step])
        if accumulate:
            for i in range(n):
                for k in range(n_in):
                    dx[i, k] += target[i, k]
        return
    zero = dx.dtype.type(0)  # accumulate in the arrays' precision, as BLAS does
    for i in range(n):
        for k in range(n_in):
            s = zero
            for j in range(n_out):
                s += dz[i, j] * w[k, j]
            dx[i, k] = dx[i, k] + s if accumulate else s


# The feature-major kernels are register-blocked: each pass over a chunk's
# rows updates two output rows from four input rows (or computes eight dot
# products, two inputs by four outputs), so a loaded value feeds several multiply-adds instead of one load and
# one store per multiply-add.  Measured on one core (AVX-512, float32, chunks
# of 160 rows, layers 4x32 to 32x32): 55-97 GFLOP/s against 35-58 for the
# plain loops.  The tails (odd widths) run the plain loops.


@jit
def add_product_fm(outT, inT, w):
    """outT += (in @ w).T, that is outT[j] += sum over k of w[k, j] * inT[k].

    outT : (out, r).  inT : (in, r).  w : (in, out), in any layout (the
    backward pass hands in the transpose of a weight).
    """
    n_out, rows = outT.shape
    n_in = inT.shape[0]
    k4 = n_in - n_in % 4
    j2 = n_out - n_out % 2
    for j in range(0, j2, 2):  # two outputs from four inputs per pass
        oa, ob = outT[j], outT[j + 1]
        for k in range(0, k4, 4):
            a0, a1, a2, a3 = w[k, j], w[k + 1, j], w[k + 2, j], w[k + 3, j]
            c0, c1, c2, c3 = w[k, j + 1], w[k + 1, j + 1], w[k + 2, j + 1], w[k + 3, j + 1]
            x0, x1, x2, x3 = inT[k], inT[k + 1], inT[k + 2], inT[k + 3]
            for i in range(rows):
                v0, v1, v2, v3 = x0[i], x1[i], x2[i], x3[i]
                oa[i] += a0 * v0 + a1 * v1 + a2 * v2 + a3 * v3
                ob[i] += c0 * v0 + c1 * v1 + c2 * v2 + c3 * v3
        for k in range(k4, n_in):
            a0, c0, xk = w[k, j], w[k, j + 1], inT[k]
            for i in range(rows):
                oa[i] += a0 * xk[i]
                ob[i] += c0 * xk[i]
    for j in range(j2, n_out):
        oj = outT[j]
        for k in range(n_in):
            wkj, xk = w[k, j], inT[k]
            for i in range(rows):
                oj[i] += wkj * xk[i]


@jit
def dense_forward_fm(zT, xT, w, b):
    """zT = (x @ w + b).T.  zT : (out, r), written.  xT : (in, r).  w : (in, out).  b : (out,) or empty."""
    n_out, rows = zT.shape
    for j in range(n_out):
        bj = b[j] if b.size else zT.dtype.type(0)
        zj = zT[j]
        for i in range(rows):
            zj[i] = bj
    add_product_fm(zT, xT, w)


@jit
def dense_backward_params_fm(dzT, xT, gw, gb):
    """gw = x.T @ dz and gb = column sums of dz, overwritten.  dzT : (out, r).  xT : (in, r)."""
    n_out, rows = dzT.shape
    n_in = xT.shape[0]
    zero = gw.dtype.type(0)
    if gb.size:
        for j in range(n_out):
            dj = dzT[j]
            s = zero
            for i in range(rows):
                s += dj[i]
            gb[j] = s
    k2 = n_in - n_in % 2
    j4 = n_out - n_out % 4
    for k in range(0, k2, 2):  # eight dot products per pass
        xa, xb = xT[k], xT[k + 1]
        for j in range(0, j4, 4):
            d0, d1, d2, d3 = dzT[j], dzT[j + 1], dzT[j + 2], dzT[j + 3]
            s0 = s1 = s2 = s3 = t0 = t1 = t2 = t3 = zero
            for i in range(rows):
                u, v = xa[i], xb[i]
                e0, e1, e2, e3 = d0[i], d1[i], d2[i], d3[i]
                s0 += u * e0
                s1 += u * e1
                s2 += u * e2
                s3 += u * e3
                t0 += v * e0
                t1 += v * e1
                t2 += v * e2
                t3 += v * e3
            gw[k, j], gw[k, j + 1], gw[k, j + 2], gw[k, j + 3] = s0, s1, s2, s3
            gw[k + 1, j], gw[k + 1, j + 1], gw[k + 1, j + 2], gw[k + 1, j + 3] = t0, t1, t2, t3
        for j in range(j4, n_out):
            dj = dzT[j]
            s = t = zero
            for i in range(rows):
                s += xa[i] * dj[i]
                t += xb[i] * dj[i]
            gw[k, j], gw[k + 1, j] = s, t
    for k in range(k2, n_in):
        xk = xT[k]
        for j in range(n_out):
            dj = dzT[j]
            s = zero
            for i in range(rows):
                s += xk[i] * dj[i]
            gw[k, j] = s


@jit
def dense_backward_input_fm(dxT, dzT, w, accumulate):
    """dxT = (dz @ w.T).T, or += when ``accumulate``.  dxT : (in, r).  dzT : (out, r).  w : (in, out)."""
    if not accumulate:
        dxT[:, :] = 0.0
    add_product_fm(dxT, dzT, w.T)


@jit_inline
def forward(net, op, ch):
    """The dense op ``op`` of ``net`` on one chunk: z = input @ W + b, then its activation if fused.

    ``fastbp.plan`` fuses a dense layer with the activation after it (CODE is
    the activation's code, AUX the block of z, OUT the activation's output);
    CODE -1 is a dense layer alone, its output z at OUT.  Fused, an MLP layer
    is one op instead of two: half the per-op work of a pass on small layers.
    """
    forward_from(net, op, ch, block(ch.acts, net.ops[op, IN], ch.rows, net.ops[op, N_IN]))


@jit_inline
def forward_from(net, op, ch, x_flat):
    """``forward`` with the op's input given: ``x_flat``, its block as a 1-D array.

    ``predict`` hands in its rows of x, where they lie, to the first op.
    """
    row = net.ops[op]
    n_in, n_out, code = row[N_IN], row[N_OUT], row[CODE]
    rows, fm = ch.rows, ch.fm
    w = net.params[row[PARAM] : row[PARAM] + n_in * n_out].reshape(n_in, n_out)
    b = param_block(net.params, row[BIAS], n_out)
    x = matrix(x_flat, fm, rows, n_in)
    z_flat = block(ch.acts, row[AUX] if code >= 0 else row[OUT], rows, n_out)
    z = matrix(z_flat, fm, rows, n_out)
    if fm:
        dense_forward_fm(z, x, w, b)
    else:
        dense_forward(z, x, w, b, ch.blas)
    if code >= 0:
        activation_forward(code, z_flat, block(ch.acts, row[OUT], rows, n_out))


@jit_inline
def backward(net, op, ch):
    """Gradients of the dense op ``op``: W and b into the chunk's gradient, then the input's delta."""
    row = net.ops[op]
    n_in, n_out, code = row[N_IN], row[N_OUT], row[CODE]
    rows, fm = ch.rows, ch.fm
    dz_flat = block(ch.deltas, row[D_AUX] if code >= 0 else row[D_OUT], rows, n_out)
    if code >= 0:  # through the fused activation first
        z = block(ch.acts, row[AUX], rows, n_out)
        a = block(ch.acts, row[OUT], rows, n_out)
        activation_backward(code, z, a, block(ch.deltas, row[D_OUT], rows, n_out), dz_flat)
    dz = matrix(dz_flat, fm, rows, n_out)
    x = matrix(block(ch.acts, row[IN], rows, n_in), fm, rows, n_in)
    gw = ch.grad[row[PARAM] : row[PARAM] + n_in * n_out].reshape(n_in, n_out)
    gb = param_block(ch.grad, row[BIAS], n_out)
    if fm:
        dense_backward_params_fm(dz, x, gw, gb)
    else:
        dense_backward_params(dz, x, gw, gb, ch.blas, ch.scratch)
    if row[IN] == X_BLOCK:
        return  # the network's input: no gradient needed
    w = net.params[row[PARAM] : row[PARAM] + n_in * n_out].reshape(n_in, n_out)
    dx = matrix(block(ch.deltas, row[D_IN], rows, n_in), fm, rows, n_in)
    if fm:
        dense_backward_input_fm(dx, dz, w, row[ACC_IN] != 0)
    else:
        dense_backward_input(dx, dz, w, ch.blas, row[ACC_IN] != 0, ch.scratch)
