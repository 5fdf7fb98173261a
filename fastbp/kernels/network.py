"""Whole-network passes: forward, backward, one training step, one epoch, predict.

A network travels into compiled code as plain arrays:

- ``params`` (P,) every weight and bias, carved by ``w_off``/``b_off``/``sizes``
  (see ``fastbp.layout.Layout``);
- ``acts`` (L,) activation code of each layer's output (the last one is the
  regression output activation; cross-entropy losses apply theirs in the loss);
- ``drop`` (L,) dropout rate after each layer (the last is always 0);
- work buffers ``zbuf`` (pre-activations), ``abuf`` (activations) and
  ``hbuf`` (activations after dropout), each holding every layer's
  ``(rows, width)`` block at ``act_off[l]``, and two delta buffers of
  ``rows * max(sizes)`` elements.  They are allocated once per fit.
"""

import math

import numpy as np

from .._jit import jit
from .activations import activation_backward, activation_forward
from .dense import dense_backward_input, dense_backward_params, dense_forward
from .losses import loss_and_delta, output_transform
from .optimizers import optimizer_update
from .random import mix, uniform

OK = 0
NONFINITE_LOSS = 1
NONFINITE_GRAD = 2


@jit
def _block(buf, act_off, layer, rows, width):
    start = act_off[layer]
    return buf[start : start + rows * width]


@jit
def _layer_input(x, abuf, hbuf, act_off, sizes, drop, layer, rows):
    """The (rows, sizes[layer]) input of ``layer``: x, or the previous activations."""
    if layer == 0:
        return x
    width = sizes[layer]
    source = hbuf if drop[layer - 1] > 0.0 else abuf
    return _block(source, act_off, layer - 1, rows, width).reshape(rows, width)


@jit
def forward(params, sizes, w_off, b_off, acts, drop, act_off, x, zbuf, abuf, hbuf, drop_key):
    """Forward pass of ``rows = x.shape[0]`` rows; returns the output block (rows, sizes[-1]).

    Dropout is applied where ``drop[l] > 0`` (pass zeros in evaluation), with
    the mask drawn from ``drop_key``.
    """
    rows = x.shape[0]
    n_layers = sizes.size - 1
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = params[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        b = params[b_off[layer] : b_off[layer] + n_out]
        inp = _layer_input(x, abuf, hbuf, act_off, sizes, drop, layer, rows)
        z = _block(zbuf, act_off, layer, rows, n_out)
        dense_forward(z.reshape(rows, n_out), inp, w, b)
        a = _block(abuf, act_off, layer, rows, n_out)
        activation_forward(acts[layer], z, a)
        rate = drop[layer]
        if rate > 0.0:
            h = _block(hbuf, act_off, layer, rows, n_out)
            keep_scale = 1.0 / (1.0 - rate)
            layer_key = mix(drop_key, layer)
            for i in range(a.size):
                h[i] = a[i] * keep_scale if uniform(layer_key, i) >= rate else 0.0
    n_out = sizes[n_layers]
    return _block(abuf, act_off, n_layers - 1, rows, n_out).reshape(rows, n_out)


@jit
def backward(
    params, grad, sizes, w_off, b_off, acts, drop, act_off, x, zbuf, abuf, hbuf, dbuf, dbuf2, drop_key
):
    """Backward pass; on entry ``dbuf`` holds dL/d(output) as a (rows, sizes[-1]) block.

    Overwrites every entry of ``grad``.  The hidden-layer rule is
    delta_l = (delta_{l+1} @ W_{l+1}.T) * f'(z_l): the next layer's bias does
    not enter it.  Dropout masks are regenerated from ``drop_key``.
    """
    rows = x.shape[0]
    n_layers = sizes.size - 1
    cur = dbuf
    other = dbuf2
    top = n_layers - 1
    n_top = sizes[n_layers]
    activation_backward(
        acts[top],
        _block(zbuf, act_off, top, rows, n_top),
        _block(abuf, act_off, top, rows, n_top),
        cur[: rows * n_top],
    )
    for layer in range(top, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        dz = cur[: rows * n_out].reshape(rows, n_out)
        inp = _layer_input(x, abuf, hbuf, act_off, sizes, drop, layer, rows)
        gw = grad[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        gb = grad[b_off[layer] : b_off[layer] + n_out]
        dense_backward_params(dz, inp, gw, gb)
        if layer == 0:
            break
        w = params[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        dx = other[: rows * n_in]
        dense_backward_input(dx.reshape(rows, n_in), dz, w)
        below = layer - 1
        rate = drop[below]
        if rate > 0.0:
            keep_scale = 1.0 / (1.0 - rate)
            layer_key = mix(drop_key, below)
            for i in range(dx.size):
                dx[i] = dx[i] * keep_scale if uniform(layer_key, i) >= rate else 0.0
        activation_backward(
            acts[below],
            _block(zbuf, act_off, below, rows, n_in),
            _block(abuf, act_off, below, rows, n_in),
            dx,
        )
        cur, other = other, cur


@jit
def l2_penalty(params, grad, sizes, w_off, alpha, rows, want_grad):
    """Add scikit-learn's L2 term to ``grad``: alpha * W / rows; return 0.5 * alpha * |W|^2 / rows."""
    total = 0.0
    scale = alpha / rows
    for layer in range(sizes.size - 1):
        start = w_off[layer]
        for i in range(start, start + sizes[layer] * sizes[layer + 1]):
            total += params[i] * params[i]
            if want_grad:
                grad[i] += scale * params[i]
    return 0.5 * scale * total


@jit
def loss_gradient(
    params,
    grad,
    sizes,
    w_off,
    b_off,
    acts,
    drop,
    act_off,
    loss_code,
    alpha,
    x,
    y,
    labels,
    zbuf,
    abuf,
    hbuf,
    dbuf,
    dbuf2,
    drop_key,
):
    """Mean loss of the rows of ``x`` (plus the L2 term) and its gradient into ``grad``."""
    rows = x.shape[0]
    out = forward(params, sizes, w_off, b_off, acts, drop, act_off, x, zbuf, abuf, hbuf, drop_key)
    n_out = out.shape[1]
    delta = dbuf[: rows * n_out].reshape(rows, n_out)
    loss = loss_and_delta(loss_code, out, y, labels, delta, True)
    backward(
        params, grad, sizes, w_off, b_off, acts, drop, act_off, x, zbuf, abuf, hbuf, dbuf, dbuf2, drop_key
    )
    if alpha > 0.0:
        loss += l2_penalty(params, grad, sizes, w_off, alpha, rows, True)
    return loss


@jit
def _all_finite(v):
    s = 0.0
    for i in range(v.size):
        s += v[i] * 0.0
    return s == 0.0  # inf * 0 and nan * 0 are nan, which poisons the sum


@jit
def shuffled_order(order, key):
    """Fill ``order`` with a permutation of 0..n-1 (Fisher-Yates) drawn from ``key``."""
    n = order.size
    for i in range(n):
        order[i] = i
    for i in range(n - 1, 0, -1):
        j = np.int64(mix(key, i) % np.uint64(i + 1))
        order[i], order[j] = order[j], order[i]


@jit
def train_epoch(
    params,
    grad,
    opt_state,
    opt_kind,
    opt_hyper,
    lr,
    step,
    sizes,
    w_off,
    b_off,
    acts,
    drop,
    act_off,
    loss_code,
    alpha,
    x,
    y,
    labels,
    batch_size,
    shuffle,
    epoch_key,
    xb,
    yb,
    lb,
    order,
    zbuf,
    abuf,
    hbuf,
    dbuf,
    dbuf2,
):
    """One epoch of mini-batch training, all in compiled code.

    Batches are consecutive slices of ``x`` (the last one may be shorter), or
    of a permutation of the rows drawn from ``epoch_key`` when ``shuffle``.
    Each step is forward, mean batch loss, backward and an optimizer update.

    xb, yb, lb : gather buffers for one shuffled batch (batch_size rows).
    order : (n,) int64 scratch for the permutation.
    step : the optimizer's update count before this epoch.

    Returns ``(summed row loss, steps taken, status, failing batch index)``.
    A step whose loss or gradient is not finite is not applied; the epoch
    stops there with status NONFINITE_LOSS or NONFINITE_GRAD.
    """
    n = x.shape[0]
    if shuffle:
        shuffled_order(order, epoch_key)
    use_labels = labels.shape[0] > 0
    total = 0.0
    batch = 0
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        if shuffle:
            for r in range(rows):
                src = order[start + r]
                xb[r, :] = x[src, :]
                if use_labels:
                    lb[r] = labels[src]
                else:
                    yb[r, :] = y[src, :]
            xin = xb[:rows]
            yin = yb[:rows] if not use_labels else yb[:0]
            lin = lb[:rows] if use_labels else lb[:0]
        else:
            xin = x[start : start + rows]
            yin = y[start : start + rows] if not use_labels else y[:0]
            lin = labels[start : start + rows] if use_labels else labels[:0]
        drop_key = mix(epoch_key, np.uint64(1) << np.uint64(40) | np.uint64(batch))
        loss = loss_gradient(
            params,
            grad,
            sizes,
            w_off,
            b_off,
            acts,
            drop,
            act_off,
            loss_code,
            alpha,
            xin,
            yin,
            lin,
            zbuf,
            abuf,
            hbuf,
            dbuf,
            dbuf2,
            drop_key,
        )
        if not math.isfinite(loss):
            return total, batch, NONFINITE_LOSS, batch
        if not _all_finite(grad):
            return total, batch, NONFINITE_GRAD, batch
        total += loss * rows
        optimizer_update(opt_kind, opt_hyper, lr, step + batch + 1, params, grad, opt_state)
        batch += 1
    return total, batch, OK, -1


@jit
def evaluate_loss(
    params,
    sizes,
    w_off,
    b_off,
    acts,
    act_off,
    loss_code,
    x,
    y,
    labels,
    chunk,
    zbuf,
    abuf,
    dbuf,
):
    """Mean data loss over all rows of ``x``, without dropout or the L2 term, in chunks of ``chunk`` rows."""
    n = x.shape[0]
    use_labels = labels.shape[0] > 0
    no_drop = np.zeros(sizes.size - 1)
    total = 0.0
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        xin = x[start : start + rows]
        yin = y[start : start + rows] if not use_labels else y[:0]
        lin = labels[start : start + rows] if use_labels else labels[:0]
        out = forward(
            params, sizes, w_off, b_off, acts, no_drop, act_off, xin, zbuf, abuf, abuf, np.uint64(0)
        )
        total += rows * loss_and_delta(loss_code, out, yin, lin, out, False)
    return total / n


@jit
def predict(params, sizes, w_off, b_off, acts, act_off, loss_code, x, out, chunk, zbuf, abuf):
    """Network outputs for every row of ``x`` into ``out`` (n, sizes[-1]), in chunks of ``chunk`` rows."""
    n = x.shape[0]
    no_drop = np.zeros(sizes.size - 1)
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        res = forward(
            params,
            sizes,
            w_off,
            b_off,
            acts,
            no_drop,
            act_off,
            x[start : start + rows],
            zbuf,
            abuf,
            abuf,
            np.uint64(0),
        )
        output_transform(loss_code, res, out[start : start + rows])
