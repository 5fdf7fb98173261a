"""Passes over one chunk of rows stored feature-major, for narrow layers.

In ``network.py`` a layer's activations are a (rows, width) block; here the
same buffer block is read as (width, rows).  Every product's innermost loop
then runs along the rows of the chunk (a hundred or more contiguous values)
whatever the layer's width, so it vectorises even for 4-wide layers, where
the row-major loops of ``dense.py`` cannot.  Measured on the chains grid case
(chunks of 157 rows): 17-26 GFLOP/s on each of its layers against 2.5-40 row-major,
16->4 going from 2.5 to 20.

The passes compute exactly what ``network.forward``/``backward`` compute, with
the same dropout masks (a draw depends on the row's index in its batch and the
column, not on the storage order); the loss itself is computed row-major on a
transposed copy of the (small) output block by ``losses.loss_and_delta``.
"""

from .._jit import jit
from .activations import activation_backward, activation_forward
from .blocks import block, layer_input
from .losses import loss_and_delta
from .random import mix, uniform


@jit
def dense_forward_fm(zT, xT, w, b):
    """zT = (x @ w + b).T.  zT : (out, r), written.  xT : (in, r).  w : (in, out).  b : (out,)."""
    n_out, rows = zT.shape
    n_in = xT.shape[0]
    for j in range(n_out):
        zj = zT[j]
        bj = b[j]
        for i in range(rows):
            zj[i] = bj
        for k in range(n_in):
            wkj = w[k, j]
            xk = xT[k]
            for i in range(rows):
                zj[i] += wkj * xk[i]


@jit
def dense_backward_params_fm(dzT, xT, gw, gb):
    """gw = x.T @ dz and gb = column sums of dz, overwritten.  dzT : (out, r).  xT : (in, r)."""
    n_out, rows = dzT.shape
    n_in = xT.shape[0]
    zero = gw.dtype.type(0)
    for j in range(n_out):
        dj = dzT[j]
        s = zero
        for i in range(rows):
            s += dj[i]
        gb[j] = s
    for k in range(n_in):
        xk = xT[k]
        for j in range(n_out):
            dj = dzT[j]
            s = zero
            for i in range(rows):
                s += xk[i] * dj[i]
            gw[k, j] = s


@jit
def dense_backward_input_fm(dxT, dzT, w):
    """dxT = (dz @ w.T).T.  dxT : (in, r), written.  dzT : (out, r).  w : (in, out)."""
    n_in, rows = dxT.shape
    n_out = dzT.shape[0]
    for k in range(n_in):
        dk = dxT[k]
        for i in range(rows):
            dk[i] = 0.0
        for j in range(n_out):
            wkj = w[k, j]
            dj = dzT[j]
            for i in range(rows):
                dk[i] += wkj * dj[i]


@jit
def gather_fm(x, order, shuffle, start, lo, hi, xT):
    """xT[k, i] = x[row, k] for the batch rows lo..hi (through ``order`` when ``shuffle``)."""
    for i in range(hi - lo):
        src = order[start + lo + i] if shuffle else start + lo + i
        for k in range(x.shape[1]):
            xT[k, i] = x[src, k]


@jit
def _dropout_fm(out, a, rate, layer_key, row0, width, rows):
    """Inverted dropout on a (width, rows) block with the masks of the row-major passes."""
    keep_scale = 1.0 / (1.0 - rate)
    for j in range(width):
        for i in range(rows):
            e = j * rows + i
            keep = uniform(layer_key, (row0 + i) * width + j) >= rate
            out[e] = a[e] * keep_scale if keep else 0.0


@jit
def forward_fm(params, sizes, w_off, b_off, acts, drop, act_off, xT, zbuf, abuf, hbuf, drop_key, row0):
    """``network.forward`` on feature-major blocks; returns the output block (sizes[-1], rows)."""
    rows = xT.shape[1]
    n_layers = sizes.size - 1
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = params[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        b = params[b_off[layer] : b_off[layer] + n_out]
        inp = layer_input(xT, abuf, hbuf, act_off, sizes, drop, layer, rows, True)
        z = block(zbuf, act_off, layer, rows, n_out)
        dense_forward_fm(z.reshape(n_out, rows), inp, w, b)
        a = block(abuf, act_off, layer, rows, n_out)
        activation_forward(acts[layer], z, a)
        if drop[layer] > 0.0:
            h = block(hbuf, act_off, layer, rows, n_out)
            _dropout_fm(h, a, drop[layer], mix(drop_key, layer), row0, n_out, rows)
    n_out = sizes[n_layers]
    return block(abuf, act_off, n_layers - 1, rows, n_out).reshape(n_out, rows)


@jit
def backward_fm(params, grad, sizes, w_off, b_off, acts, drop, act_off, xT, zbuf, abuf, hbuf, dbuf, dbuf2,
                drop_key, row0):  # fmt: skip
    """``network.backward`` on feature-major blocks; ``dbuf`` holds dL/d(output) as (sizes[-1], rows)."""
    rows = xT.shape[1]
    n_layers = sizes.size - 1
    cur = dbuf
    other = dbuf2
    top = n_layers - 1
    n_top = sizes[n_layers]
    activation_backward(
        acts[top], block(zbuf, act_off, top, rows, n_top), block(abuf, act_off, top, rows, n_top),
        cur[: rows * n_top],
    )  # fmt: skip
    for layer in range(top, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        dz = cur[: rows * n_out].reshape(n_out, rows)
        inp = layer_input(xT, abuf, hbuf, act_off, sizes, drop, layer, rows, True)
        gw = grad[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        gb = grad[b_off[layer] : b_off[layer] + n_out]
        dense_backward_params_fm(dz, inp, gw, gb)
        if layer == 0:
            break
        w = params[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        dx = other[: rows * n_in]
        dense_backward_input_fm(dx.reshape(n_in, rows), dz, w)
        below = layer - 1
        if drop[below] > 0.0:
            _dropout_fm(dx, dx, drop[below], mix(drop_key, below), row0, n_in, rows)
        z_below = block(zbuf, act_off, below, rows, n_in)
        activation_backward(acts[below], z_below, block(abuf, act_off, below, rows, n_in), dx)
        cur, other = other, cur


@jit
def loss_gradient_fm(params, grad, sizes, w_off, b_off, acts, drop, act_off, loss_code, xT, y, labels, w,
                     zbuf, abuf, hbuf, dbuf, dbuf2, tbuf, drop_key, row0):  # fmt: skip
    """Mean loss of one feature-major chunk and its gradient into ``grad`` (no L2 term).

    y, labels, w : the chunk's targets and row weights, row-major, as ``loss_and_delta`` takes them.
    tbuf : scratch of 2 * rows * sizes[-1] for the row-major output and delta.
    """
    rows = xT.shape[1]
    outT = forward_fm(params, sizes, w_off, b_off, acts, drop, act_off, xT, zbuf, abuf, hbuf, drop_key, row0)
    n_out = outT.shape[0]
    out = tbuf[: rows * n_out].reshape(rows, n_out)
    delta = tbuf[rows * n_out : 2 * rows * n_out].reshape(rows, n_out)
    for j in range(n_out):
        for i in range(rows):
            out[i, j] = outT[j, i]
    loss = loss_and_delta(loss_code, out, y, labels, w, delta, True)
    deltaT = dbuf[: rows * n_out].reshape(n_out, rows)
    for j in range(n_out):
        for i in range(rows):
            deltaT[j, i] = delta[i, j]
    backward_fm(params, grad, sizes, w_off, b_off, acts, drop, act_off, xT, zbuf, abuf, hbuf, dbuf, dbuf2,
                drop_key, row0)  # fmt: skip
    return loss
