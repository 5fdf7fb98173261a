"""Batch normalisation of each feature over the batch, ``torch.nn.BatchNorm1d``'s rule.

Training normalises with the batch's mean and biased variance, computed over
the whole batch even when it runs as parallel chunks, and updates the running
statistics (``buffers``: running_mean, then running_var, the unbiased
variance) with ``momentum``.  Evaluation normalises with the running ones.

The batch statistics need every chunk's rows, so in training an op is a
barrier of the pass (``network.py``): each chunk writes partial sums into its
row of ``partials`` and a serial reduction over the chunks, in chunk order,
finishes them, so the result does not depend on the thread count.  The op's
block of ``stats`` (float64, at AUX) holds the mean, 1/std, the batch sums
of dy and dy * xh of the backward pass, and the variance: (5, width).
"""

import math

from .._jit import jit, jit_inline
from .blocks import add_into, block, matrix
from .table import (
    ACC_IN,
    AUX,
    BATCH_NORM,
    BIAS,
    D_IN,
    D_OUT,
    EPS,
    IN,
    KIND,
    MOMENTUM,
    N_OUT,
    OUT,
    PARAM,
    STATE,
    TRAIN,
    X_BLOCK,
)


@jit
def partial_mean(net, op, ch):
    """The chunk's column sums of the op's input into its partials[AUX : AUX + w]."""
    row = net.ops[op]
    w, a = row[N_OUT], row[AUX]
    x = matrix(block(ch.acts, row[IN], ch.rows, w), ch.fm, ch.rows, w)
    part = ch.partials[a : a + w]
    part[:] = 0.0
    if ch.fm:
        for j in range(w):
            s = 0.0
            for i in range(ch.rows):
                s += x[j, i]
            part[j] = s
    else:
        for r in range(ch.rows):
            for j in range(w):
                part[j] += x[r, j]


@jit
def partial_var(net, op, ch):
    """The chunk's column sums of (x - mean)^2 into its partials[AUX + w : AUX + 2w]."""
    row = net.ops[op]
    w, a = row[N_OUT], row[AUX]
    x = matrix(block(ch.acts, row[IN], ch.rows, w), ch.fm, ch.rows, w)
    mean = ch.stats[a : a + w]
    part = ch.partials[a + w : a + 2 * w]
    part[:] = 0.0
    if ch.fm:
        for j in range(w):
            s = 0.0
            for i in range(ch.rows):
                d = x[j, i] - mean[j]
                s += d * d
            part[j] = s
    else:
        for r in range(ch.rows):
            for j in range(w):
                d = x[r, j] - mean[j]
                part[j] += d * d


@jit
def reduce_mean(net, op, stats, partials, n_chunks, n):
    """The batch mean from the chunks' partial sums, summed in chunk order."""
    w, a = net.ops[op, N_OUT], net.ops[op, AUX]
    for j in range(w):
        s = 0.0
        for c in range(n_chunks):
            s += partials[c, a + j]
        stats[a + j] = s / n


@jit
def reduce_var(net, op, stats, partials, n_chunks, n):
    """The batch's biased variance (kept for ``update_running``) and 1/std from the chunks' partial sums."""
    w, a = net.ops[op, N_OUT], net.ops[op, AUX]
    eps = net.scalars[op, EPS]
    for j in range(w):
        s = 0.0
        for c in range(n_chunks):
            s += partials[c, a + w + j]
        var = s / n
        stats[a + 4 * w + j] = var
        stats[a + w + j] = 1.0 / math.sqrt(var + eps)


@jit
def update_running(net, stats, n):
    """Move every batch norm's running statistics towards the last batch's (``n`` rows), with ``momentum``.

    Called by the epoch once the batch's step was applied, so a step refused
    for a non-finite loss or gradient leaves them as they were.  The running
    variance takes the unbiased batch variance, as ``torch.nn.BatchNorm1d``.
    """
    for op in range(net.ops.shape[0]):
        if net.ops[op, KIND] != BATCH_NORM:
            continue
        w, a, state = net.ops[op, N_OUT], net.ops[op, AUX], net.ops[op, STATE]
        momentum = net.scalars[op, MOMENTUM]
        for j in range(w):
            mean, var = stats[a + j], stats[a + 4 * w + j]
            net.buffers[state + j] = (1.0 - momentum) * net.buffers[state + j] + momentum * mean
            old = net.buffers[state + w + j]
            net.buffers[state + w + j] = (1.0 - momentum) * old + momentum * var * n / (n - 1)


@jit_inline
def forward(net, op, ch):
    """y = (x - mean) / std * gamma + beta, with the batch's statistics in training, else the running ones."""
    row = net.ops[op]
    w, a = row[N_OUT], row[AUX]
    gamma = net.params[row[PARAM] : row[PARAM] + w]
    beta = net.params[row[BIAS] : row[BIAS] + w]
    x = matrix(block(ch.acts, row[IN], ch.rows, w), ch.fm, ch.rows, w)
    y = matrix(block(ch.acts, row[OUT], ch.rows, w), ch.fm, ch.rows, w)
    train = (ch.mode & TRAIN) != 0
    eps = net.scalars[op, EPS]
    state = row[STATE]
    for j in range(w):
        if train:
            m, s = ch.stats[a + j], ch.stats[a + w + j]
        else:
            m, s = float(net.buffers[state + j]), 1.0 / math.sqrt(net.buffers[state + w + j] + eps)
        scale = x.dtype.type(s * gamma[j])
        shift = x.dtype.type(beta[j] - m * s * gamma[j])
        if ch.fm:
            for i in range(ch.rows):
                y[j, i] = x[j, i] * scale + shift
        else:
            for r in range(ch.rows):
                y[r, j] = x[r, j] * scale + shift


@jit
def backward_partials(net, op, ch):
    """The chunk's sums of dy * xh and dy: its part of gamma's and beta's gradients, into its gradient."""
    row = net.ops[op]
    w, a = row[N_OUT], row[AUX]
    x = matrix(block(ch.acts, row[IN], ch.rows, w), ch.fm, ch.rows, w)
    dy = matrix(block(ch.deltas, row[D_OUT], ch.rows, w), ch.fm, ch.rows, w)
    g_gamma = ch.grad[row[PARAM] : row[PARAM] + w]
    g_beta = ch.grad[row[BIAS] : row[BIAS] + w]
    zero = x.dtype.type(0)
    for j in range(w):
        m, s = ch.stats[a + j], ch.stats[a + w + j]
        gg, gb = zero, zero
        if ch.fm:
            for i in range(ch.rows):
                gg += dy[j, i] * ((x[j, i] - m) * s)
                gb += dy[j, i]
        else:
            for r in range(ch.rows):
                gg += dy[r, j] * ((x[r, j] - m) * s)
                gb += dy[r, j]
        g_gamma[j], g_beta[j] = gg, gb


@jit
def reduce_grad(net, op, stats, grads, n_chunks):
    """The batch's sums of dy * xh and dy from the chunks' gradients (rows of ``grads``), in chunk order."""
    row = net.ops[op]
    w, a = row[N_OUT], row[AUX]
    for j in range(w):
        sg, sb = 0.0, 0.0
        for c in range(n_chunks):
            sg += grads[c, row[PARAM] + j]
            sb += grads[c, row[BIAS] + j]
        stats[a + 2 * w + j], stats[a + 3 * w + j] = sb, sg


@jit_inline
def backward(net, op, ch):
    """The input's delta: gamma / std / n * (n * dy - sum(dy) - xh * sum(dy * xh)), sums over the batch."""
    row = net.ops[op]
    if row[IN] == X_BLOCK:
        return
    w, a = row[N_OUT], row[AUX]
    gamma = net.params[row[PARAM] : row[PARAM] + w]
    x = matrix(block(ch.acts, row[IN], ch.rows, w), ch.fm, ch.rows, w)
    dy_flat = block(ch.deltas, row[D_OUT], ch.rows, w)
    dy = matrix(dy_flat, ch.fm, ch.rows, w)
    acc = row[ACC_IN] != 0
    dx = dy if acc else matrix(block(ch.deltas, row[D_IN], ch.rows, w), ch.fm, ch.rows, w)
    n = ch.n
    for j in range(w):
        m, s = ch.stats[a + j], ch.stats[a + w + j]
        sum_dy, sum_dyxh = ch.stats[a + 2 * w + j], ch.stats[a + 3 * w + j]
        k = x.dtype.type(gamma[j] * s)
        c0 = x.dtype.type(sum_dy / n)
        c1 = x.dtype.type(sum_dyxh / n)
        mm, ss = x.dtype.type(m), x.dtype.type(s)
        if ch.fm:
            for i in range(ch.rows):
                dx[j, i] = k * (dy[j, i] - c0 - (x[j, i] - mm) * ss * c1)
        else:
            for r in range(ch.rows):
                dx[r, j] = k * (dy[r, j] - c0 - (x[r, j] - mm) * ss * c1)
    if acc:
        add_into(block(ch.deltas, row[D_IN], ch.rows, w), dy_flat)
