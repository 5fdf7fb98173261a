"""Layer normalisation over the features of each row, ``torch.nn.LayerNorm``'s rule.

y = (x - mean) / sqrt(var + eps) * gamma + beta, mean and biased variance
over the row's features.  The op's AUX block holds, per row, the mean and
1/std of the forward pass and two sums of the backward pass: (4, rows).
"""

import math

from .._jit import jit_inline
from .blocks import add_into, block, matrix
from .table import ACC_IN, AUX, BIAS, D_IN, D_OUT, EPS, IN, N_OUT, OUT, PARAM, X_BLOCK


@jit_inline
def forward(net, op, ch):
    row = net.ops[op]
    w = row[N_OUT]
    rows = ch.rows
    eps = net.scalars[op, EPS]
    gamma = net.params[row[PARAM] : row[PARAM] + w]
    beta = net.params[row[BIAS] : row[BIAS] + w]
    x = matrix(block(ch.acts, row[IN], ch.rows, w), ch.fm, ch.rows, w)
    y = matrix(block(ch.acts, row[OUT], ch.rows, w), ch.fm, ch.rows, w)
    aux = ch.acts[row[AUX] * rows : (row[AUX] + 4) * rows]
    mean, rstd = aux[:rows], aux[rows : 2 * rows]
    inv_w = 1.0 / w
    if ch.fm:  # x is (w, rows): every loop runs along the rows
        mean[:] = 0.0
        for j in range(w):
            for i in range(rows):
                mean[i] += x[j, i]
        for i in range(rows):
            mean[i] *= inv_w
        rstd[:] = 0.0
        for j in range(w):
            for i in range(rows):
                d = x[j, i] - mean[i]
                rstd[i] += d * d
        for i in range(rows):
            rstd[i] = 1.0 / math.sqrt(rstd[i] * inv_w + eps)
        for j in range(w):
            g, b = gamma[j], beta[j]
            for i in range(rows):
                y[j, i] = (x[j, i] - mean[i]) * rstd[i] * g + b
        return
    for r in range(rows):
        m = x.dtype.type(0)
        for j in range(w):
            m += x[r, j]
        m *= inv_w
        v = x.dtype.type(0)
        for j in range(w):
            d = x[r, j] - m
            v += d * d
        s = 1.0 / math.sqrt(v * inv_w + eps)
        mean[r], rstd[r] = m, s
        for j in range(w):
            y[r, j] = (x[r, j] - m) * s * gamma[j] + beta[j]


@jit_inline
def backward(net, op, ch):
    """gamma's and beta's gradients into the chunk's gradient, then the input's delta.

    With xh = (x - mean) / std and dxh = dy * gamma, dx = (dxh - mean(dxh) - xh * mean(dxh * xh)) / std.
    """
    row = net.ops[op]
    w = row[N_OUT]
    rows = ch.rows
    gamma = net.params[row[PARAM] : row[PARAM] + w]
    g_gamma = ch.grad[row[PARAM] : row[PARAM] + w]
    g_beta = ch.grad[row[BIAS] : row[BIAS] + w]
    x = matrix(block(ch.acts, row[IN], ch.rows, w), ch.fm, ch.rows, w)
    dy_flat = block(ch.deltas, row[D_OUT], ch.rows, w)
    dy = matrix(dy_flat, ch.fm, ch.rows, w)
    aux = ch.acts[row[AUX] * rows : (row[AUX] + 4) * rows]
    mean, rstd, s1, s2 = aux[:rows], aux[rows : 2 * rows], aux[2 * rows : 3 * rows], aux[3 * rows :]
    want_dx = row[IN] != X_BLOCK
    acc = row[ACC_IN] != 0
    # with ACC_IN the result goes into dy itself (each element is read before it is written), then is added
    dx = dy if acc or not want_dx else matrix(block(ch.deltas, row[D_IN], ch.rows, w), ch.fm, ch.rows, w)
    inv_w = 1.0 / w
    zero = x.dtype.type(0)
    if ch.fm:
        s1[:] = 0.0
        s2[:] = 0.0
        for j in range(w):
            gg, gb = zero, zero
            for i in range(rows):
                xh = (x[j, i] - mean[i]) * rstd[i]
                gg += dy[j, i] * xh
                gb += dy[j, i]
                dxh = dy[j, i] * gamma[j]
                s1[i] += dxh
                s2[i] += dxh * xh
            g_gamma[j], g_beta[j] = gg, gb
        if want_dx:
            for j in range(w):
                for i in range(rows):
                    xh = (x[j, i] - mean[i]) * rstd[i]
                    dx[j, i] = rstd[i] * (dy[j, i] * gamma[j] - s1[i] * inv_w - xh * s2[i] * inv_w)
    else:
        g_gamma[:] = 0.0
        g_beta[:] = 0.0
        for r in range(rows):
            m, s = mean[r], rstd[r]
            a, b = zero, zero
            for j in range(w):
                xh = (x[r, j] - m) * s
                g_gamma[j] += dy[r, j] * xh
                g_beta[j] += dy[r, j]
                dxh = dy[r, j] * gamma[j]
                a += dxh
                b += dxh * xh
            if want_dx:
                for j in range(w):
                    xh = (x[r, j] - m) * s
                    dx[r, j] = s * (dy[r, j] * gamma[j] - a * inv_w - xh * b * inv_w)
    if want_dx and acc:
        add_into(block(ch.deltas, row[D_IN], ch.rows, w), dy_flat)
