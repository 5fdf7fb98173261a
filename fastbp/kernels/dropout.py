"""Inverted dropout: ``out = x * mask / (1 - rate)``, its mask drawn again in the backward pass.

The mask is never stored.  Element (r, j) of a batch, r being the row's index
in its batch, is kept when ``uniform(mix(key, CODE), r * width + j) >= rate``
(``random.py`` documents the draw), so a mask does not depend on how a batch
is split into chunks or on the storage order.  Outside training (``mode``
without DROPOUT_ON) the op copies its input.
"""

from .._jit import jit, jit_inline
from .blocks import add_into, block
from .random import mix, uniform
from .table import ACC_IN, CODE, D_IN, D_OUT, DROPOUT_ON, IN, N_OUT, OUT, RATE, X_BLOCK


@jit
def dropout_rows(out, x, rate, layer_key, row0, width, rows, fm):
    """out = x * mask / (1 - rate) on a (rows, width) block, or (width, rows) when ``fm``."""
    keep_scale = 1.0 / (1.0 - rate)
    if fm:
        for j in range(width):
            for i in range(rows):
                e = j * rows + i
                keep = uniform(layer_key, (row0 + i) * width + j) >= rate
                out[e] = x[e] * keep_scale if keep else 0.0
    else:
        first = row0 * width
        for e in range(rows * width):
            out[e] = x[e] * keep_scale if uniform(layer_key, first + e) >= rate else 0.0


@jit_inline
def forward(net, op, ch):
    row = net.ops[op]
    n = row[N_OUT]
    x, out = block(ch.acts, row[IN], ch.rows, n), block(ch.acts, row[OUT], ch.rows, n)
    if ch.mode & DROPOUT_ON:
        rate = net.scalars[op, RATE]
        dropout_rows(out, x, rate, mix(ch.key, row[CODE]), ch.row0, n, ch.rows, ch.fm)
    else:
        out[:] = x


@jit_inline
def backward(net, op, ch):
    """The input's delta: the output's delta through the same mask."""
    row = net.ops[op]
    if row[IN] == X_BLOCK:
        return
    n = row[N_OUT]
    g = block(ch.deltas, row[D_OUT], ch.rows, n)
    dx = block(ch.deltas, row[D_IN], ch.rows, n)
    target = g if row[ACC_IN] else dx
    if ch.mode & DROPOUT_ON:
        rate = net.scalars[op, RATE]
        dropout_rows(target, g, rate, mix(ch.key, row[CODE]), ch.row0, n, ch.rows, ch.fm)
    elif not row[ACC_IN]:
        dx[:] = g
    if row[ACC_IN]:
        add_into(dx, g)
