"""The end of a residual block, ``x + f(x)``: the sum of the block's output and its input.

``IN`` is f's output and ``SKIP`` the block's input; the gradient of the sum
flows unchanged to both.
"""

from .._jit import jit
from .blocks import add_into, delta, output, source
from .table import ACC_IN, ACC_SKIP, IN, N_OUT, OUT, SKIP


@jit
def forward(net, op, ch):
    row = net.ops[op]
    n = row[N_OUT]
    fx, x, out = source(ch, row[IN], n), source(ch, row[SKIP], n), output(ch, row[OUT], n)
    for e in range(out.size):
        out[e] = x[e] + fx[e]


@jit
def backward(net, op, ch):
    row = net.ops[op]
    n = row[N_OUT]
    g = delta(ch, row[OUT], n)
    for off, acc in ((row[IN], row[ACC_IN]), (row[SKIP], row[ACC_SKIP])):
        if off < 0:
            continue
        if acc:
            add_into(delta(ch, off, n), g)
        else:
            delta(ch, off, n)[:] = g
