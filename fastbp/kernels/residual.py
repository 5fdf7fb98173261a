"""The end of a residual block, ``x + f(x)``: the sum of the block's output and its input.

``IN`` is f's output and ``SKIP`` the block's input; the gradient of the sum
flows unchanged to both.
"""

from .._jit import jit_inline
from .blocks import add_into, block
from .table import ACC_IN, ACC_SKIP, D_IN, D_OUT, D_SKIP, IN, N_OUT, OUT, SKIP


@jit_inline
def forward(net, op, ch):
    row = net.ops[op]
    n = row[N_OUT]
    fx, x, out = (
        block(ch.acts, row[IN], ch.rows, n),
        block(ch.acts, row[SKIP], ch.rows, n),
        block(ch.acts, row[OUT], ch.rows, n),
    )
    for e in range(out.size):
        out[e] = x[e] + fx[e]


@jit_inline
def backward(net, op, ch):
    row = net.ops[op]
    n = row[N_OUT]
    g = block(ch.deltas, row[D_OUT], ch.rows, n)
    for off, acc in ((row[D_IN], row[ACC_IN]), (row[D_SKIP], row[ACC_SKIP])):
        if off < 0:  # x: no delta
            continue
        if acc:
            add_into(block(ch.deltas, off, ch.rows, n), g)
        else:
            block(ch.deltas, off, ch.rows, n)[:] = g
