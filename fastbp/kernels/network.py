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
  ``rows * max(sizes)`` elements.  They are allocated once per fit (and kept
  for the next fit of the model when it needs the same ones).
"""

import math

import numpy as np
from numba import prange

from .._jit import jit, jit_parallel
from .activations import activation_backward, activation_forward
from .blocks import block, layer_input
from .dense import dense_backward_input, dense_backward_params, dense_forward
from .feature_major import gather_fm, loss_gradient_fm
from .losses import loss_and_delta, output_transform, weight_sum
from .optimizers import optimizer_update
from .random import mix, uniform

OK = 0
NONFINITE_LOSS = 1
NONFINITE_GRAD = 2
CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by the norm plus this


@jit
def forward(params, sizes, w_off, b_off, acts, drop, act_off, x, zbuf, abuf, hbuf, drop_key, row0, blas):
    """Forward pass of ``rows = x.shape[0]`` rows; returns the output block (rows, sizes[-1]).

    Dropout is applied where ``drop[l] > 0`` (pass zeros in evaluation).  The
    mask of row ``r`` is drawn from ``drop_key`` and the row's index in its
    batch, ``row0 + r``, so it does not depend on how a batch is split.
    ``blas`` allows BLAS for the products (never inside a parallel region).
    """
    rows = x.shape[0]
    n_layers = sizes.size - 1
    for layer in range(n_layers):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        w = params[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        b = params[b_off[layer] : b_off[layer] + n_out]
        inp = layer_input(x, abuf, hbuf, act_off, sizes, drop, layer, rows, False)
        z = block(zbuf, act_off, layer, rows, n_out)
        dense_forward(z.reshape(rows, n_out), inp, w, b, blas)
        a = block(abuf, act_off, layer, rows, n_out)
        activation_forward(acts[layer], z, a)
        if drop[layer] > 0.0:
            _dropout(
                block(hbuf, act_off, layer, rows, n_out), a, drop[layer], mix(drop_key, layer), row0 * n_out
            )
    n_out = sizes[n_layers]
    return block(abuf, act_off, n_layers - 1, rows, n_out).reshape(rows, n_out)


@jit
def _dropout(out, a, rate, layer_key, first):
    """out = a * mask / (1 - rate): inverted dropout; element i's draw is counter ``first + i``."""
    keep_scale = 1.0 / (1.0 - rate)
    for i in range(a.size):
        out[i] = a[i] * keep_scale if uniform(layer_key, first + i) >= rate else 0.0


@jit
def backward(
    params,
    grad,
    sizes,
    w_off,
    b_off,
    acts,
    drop,
    act_off,
    x,
    zbuf,
    abuf,
    hbuf,
    dbuf,
    dbuf2,
    drop_key,
    row0,
    blas,
):
    """Backward pass; on entry ``dbuf`` holds dL/d(output) as a (rows, sizes[-1]) block.

    Overwrites every entry of ``grad``.  The hidden-layer rule is
    delta_l = (delta_{l+1} @ W_{l+1}.T) * f'(z_l): the next layer's bias does
    not enter it.  Dropout masks are drawn again from ``drop_key``.
    """
    rows = x.shape[0]
    n_layers = sizes.size - 1
    cur = dbuf
    other = dbuf2
    top = n_layers - 1
    n_top = sizes[n_layers]
    activation_backward(
        acts[top],
        block(zbuf, act_off, top, rows, n_top),
        block(abuf, act_off, top, rows, n_top),
        cur[: rows * n_top],
    )
    for layer in range(top, -1, -1):
        n_in, n_out = sizes[layer], sizes[layer + 1]
        dz = cur[: rows * n_out].reshape(rows, n_out)
        inp = layer_input(x, abuf, hbuf, act_off, sizes, drop, layer, rows, False)
        gw = grad[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        gb = grad[b_off[layer] : b_off[layer] + n_out]
        dense_backward_params(dz, inp, gw, gb, blas, other)  # other is free until dx is written
        if layer == 0:
            break
        w = params[w_off[layer] : w_off[layer] + n_in * n_out].reshape(n_in, n_out)
        dx = other[: rows * n_in]
        dense_backward_input(dx.reshape(rows, n_in), dz, w, blas)
        below = layer - 1
        if drop[below] > 0.0:
            _dropout(dx, dx, drop[below], mix(drop_key, below), row0 * n_in)
        activation_backward(
            acts[below],
            block(zbuf, act_off, below, rows, n_in),
            block(abuf, act_off, below, rows, n_in),
            dx,
        )
        cur, other = other, cur


@jit
def l2_penalty(params, grad, sizes, w_off, alpha, norm):
    """Add scikit-learn's L2 term to ``grad``: alpha * W / norm; return 0.5 * alpha * |W|^2 / norm.

    ``norm`` is the batch's row count, or its weight sum with row weights
    (scikit-learn's rule; a batch of zero weight uses its row count).
    """
    total = 0.0
    scale = alpha / norm
    for layer in range(sizes.size - 1):
        start = w_off[layer]
        for i in range(start, start + sizes[layer] * sizes[layer + 1]):
            total += params[i] * params[i]
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
    w,
    zbuf,
    abuf,
    hbuf,
    dbuf,
    dbuf2,
    drop_key,
    row0,
    blas,
):
    """Mean loss of the rows of ``x`` (plus the L2 term) and its gradient into ``grad``.

    ``w`` holds one weight per row, or is empty (see ``losses.loss_and_delta``).
    """
    rows = x.shape[0]
    out = forward(params, sizes, w_off, b_off, acts, drop, act_off, x, zbuf, abuf, hbuf, drop_key, row0, blas)
    n_out = out.shape[1]
    delta = dbuf[: rows * n_out].reshape(rows, n_out)
    loss = loss_and_delta(loss_code, out, y, labels, w, delta, True)
    backward(
        params,
        grad,
        sizes,
        w_off,
        b_off,
        acts,
        drop,
        act_off,
        x,
        zbuf,
        abuf,
        hbuf,
        dbuf,
        dbuf2,
        drop_key,
        row0,
        blas,
    )
    if alpha > 0.0:
        loss += l2_penalty(params, grad, sizes, w_off, alpha, _l2_norm(w, rows))
    return loss


@jit
def _l2_norm(w, rows):
    norm = weight_sum(w, rows)
    return norm if norm > 0.0 else float(rows)


@jit
def batch_targets(y, labels, sw, order, shuffle, start, lo, hi, yb, lb, wb):
    """Targets and row weights of the batch rows ``lo..hi`` as ``(y, labels, w)`` views.

    Of ``y`` and ``labels`` the unused one comes back empty, and so does ``w``
    when ``sw`` is empty.  Without ``shuffle`` they are slices; with it, row
    ``k`` of the batch is data row ``order[start + k]``, gathered into row ``k``
    of ``yb`` or ``lb`` (and ``wb``).
    """
    use_labels = labels.shape[0] > 0
    weighted = sw.shape[0] > 0
    if not shuffle:
        yin = y[start + lo : start + hi] if not use_labels else y[:0]
        lin = labels[start + lo : start + hi] if use_labels else labels[:0]
        win = sw[start + lo : start + hi] if weighted else sw[:0]
        return yin, lin, win
    for k in range(lo, hi):
        src = order[start + k]
        if use_labels:
            lb[k] = labels[src]
        else:
            for j in range(y.shape[1]):
                yb[k, j] = y[src, j]
        if weighted:
            wb[k] = sw[src]
    return (
        (yb[lo:hi] if not use_labels else yb[:0]),
        (lb[lo:hi] if use_labels else lb[:0]),
        (wb[lo:hi] if weighted else wb[:0]),
    )


@jit
def batch_rows(x, y, labels, sw, order, shuffle, start, lo, hi, xb, yb, lb, wb):
    """Rows ``lo..hi`` of the batch that begins at ``start``, as ``(x, y, labels, w)`` views.

    Like ``batch_targets``, with the features gathered into ``xb`` when ``shuffle``.
    """
    yin, lin, win = batch_targets(y, labels, sw, order, shuffle, start, lo, hi, yb, lb, wb)
    if not shuffle:
        return x[start + lo : start + hi], yin, lin, win
    # element loops: a slice assignment per row costs more than copying the row
    for k in range(lo, hi):
        src = order[start + k]
        for j in range(x.shape[1]):
            xb[k, j] = x[src, j]
    return xb[lo:hi], yin, lin, win


def _chunked_loss_gradient(
    params,
    grad,
    chunk_grads,
    chunk_loss,
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
    sw,
    order,
    start,
    rows,
    shuffle,
    chunk_rows,
    yb,
    lb,
    wb,
    zbuf,
    abuf,
    hbuf,
    dbuf,
    dbuf2,
    xtbuf,
    tbuf,
    drop_key,
):
    """``loss_gradient`` of one batch, split into chunks of ``chunk_rows`` rows run in parallel.

    The batch is rows ``start .. start + rows`` of ``x`` (through ``order``
    when ``shuffle``).  Chunk ``c`` gathers its own rows, transposed, into its
    slice of ``xtbuf``, runs the serial feature-major passes
    (``feature_major.py``) on its own slices of the work buffers and writes
    its own row of ``chunk_grads``; the chunk gradients are then summed in
    chunk order.  The split depends only on the batch size, so the result is
    the same, bit for bit, for any number of threads.
    """
    n_chunks = (rows + chunk_rows - 1) // chunk_rows
    slots = chunk_grads.shape[0]
    chunk_weight = chunk_loss[slots:]  # chunk_loss holds each chunk's loss, then its weight
    act_len = zbuf.size // slots
    hid_len = hbuf.size // slots
    delta_len = dbuf.size // slots
    x_len = xtbuf.size // slots
    t_len = tbuf.size // slots
    n_in = x.shape[1]
    for c in prange(n_chunks):
        r0 = c * chunk_rows
        r = min(chunk_rows, rows - r0)
        xT = xtbuf[c * x_len : c * x_len + n_in * r].reshape(n_in, r)
        gather_fm(x, order, shuffle, start, r0, r0 + r, xT)
        yin, lin, win = batch_targets(y, labels, sw, order, shuffle, start, r0, r0 + r, yb, lb, wb)
        chunk_weight[c] = weight_sum(win, r)
        chunk_loss[c] = chunk_weight[c] * loss_gradient_fm(
            params, chunk_grads[c], sizes, w_off, b_off, acts, drop, act_off, loss_code, xT, yin, lin, win,
            zbuf[c * act_len : (c + 1) * act_len],
            abuf[c * act_len : (c + 1) * act_len],
            hbuf[c * hid_len : (c + 1) * hid_len],
            dbuf[c * delta_len : (c + 1) * delta_len],
            dbuf2[c * delta_len : (c + 1) * delta_len],
            tbuf[c * t_len : (c + 1) * t_len],
            drop_key, r0,
        )  # fmt: skip
    # each chunk's gradient is of its own mean loss: weight it by its share of
    # the batch's rows (or of its weight sum)
    norm = 0.0
    for c in range(n_chunks):
        norm += chunk_weight[c]
    inv_norm = 1.0 / norm if norm > 0.0 else 0.0
    loss = 0.0
    grad[:] = 0.0
    for c in range(n_chunks):
        loss += chunk_loss[c]
        share = chunk_weight[c] * inv_norm
        for p in range(grad.size):
            grad[p] += share * chunk_grads[c, p]
    loss *= inv_norm
    if alpha > 0.0:
        loss += l2_penalty(params, grad, sizes, w_off, alpha, norm if norm > 0.0 else float(rows))
    return loss


chunked_loss_gradient = jit_parallel(_chunked_loss_gradient)


@jit
def all_finite(v):
    """True when the 1-D array ``v`` holds no NaN or inf; one pass, no temporary array."""
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
def _step(params, grad, opt_state, opt_kind, opt_hyper, lr, step, loss, clip_norm):
    """Apply one optimizer step if the loss and gradient are finite; return the status.

    With ``clip_norm > 0`` the gradient is first scaled by
    ``clip_norm / (norm + 1e-6)`` when that is below 1, ``norm`` being its
    global L2 norm: ``torch.nn.utils.clip_grad_norm_``, epsilon included.
    """
    if not math.isfinite(loss):
        return NONFINITE_LOSS
    if not all_finite(grad):
        return NONFINITE_GRAD
    if clip_norm > 0.0:
        squares = 0.0
        for p in range(grad.size):
            squares += grad[p] * grad[p]
        norm = math.sqrt(squares)
        scale = clip_norm / (norm + CLIP_EPS)
        if scale < 1.0:
            for p in range(grad.size):
                grad[p] *= scale
    optimizer_update(opt_kind, opt_hyper, lr, step, params, grad, opt_state)
    return OK


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
    sw,
    batch_size,
    shuffle,
    epoch_key,
    clip_norm,
    blas,
    xb,
    yb,
    lb,
    wb,
    order,
    zbuf,
    abuf,
    hbuf,
    dbuf,
    dbuf2,
):
    """One epoch of mini-batch training, all in compiled code, one serial pass per batch.

    Batches are consecutive slices of ``x`` (the last one may be shorter), or
    of a permutation of the rows drawn from ``epoch_key`` when ``shuffle``.
    Each step is forward, mean batch loss, backward and an optimizer update;
    the products go to BLAS when ``blas``, else to fastbp's own loops (whose
    results do not depend on any thread setting).  ``clip_norm > 0`` clips
    each step's gradient to that global norm.

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
    total = 0.0
    batch = 0
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        xin, yin, lin, win = batch_rows(x, y, labels, sw, order, shuffle, start, 0, rows, xb, yb, lb, wb)
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
            win,
            zbuf,
            abuf,
            hbuf,
            dbuf,
            dbuf2,
            _batch_key(epoch_key, batch),
            0,
            blas,
        )
        status = _step(params, grad, opt_state, opt_kind, opt_hyper, lr, step + batch + 1, loss, clip_norm)
        if status != OK:
            return total, batch, status, batch
        total += loss * weight_sum(win, rows)
        batch += 1
    return total, batch, OK, -1


def _train_epoch_chunked(
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
    sw,
    batch_size,
    shuffle,
    epoch_key,
    clip_norm,
    chunk_rows,
    yb,
    lb,
    wb,
    order,
    zbuf,
    abuf,
    hbuf,
    dbuf,
    dbuf2,
    xtbuf,
    tbuf,
    chunk_grads,
    chunk_loss,
):
    """``train_epoch`` with each batch split into chunks of ``chunk_rows`` rows run in parallel.

    ``chunk_grads`` holds one gradient per chunk and the work buffers one
    slice per chunk (see ``chunked_loss_gradient``).  A kernel of its own:
    calling a parallel function from the serial epoch kernel slowed that
    kernel's small steps down by half, even when the call was not taken.
    """
    n = x.shape[0]
    if shuffle:
        shuffled_order(order, epoch_key)
    total = 0.0
    batch = 0
    for start in range(0, n, batch_size):
        rows = min(batch_size, n - start)
        loss = chunked_loss_gradient(
            params,
            grad,
            chunk_grads,
            chunk_loss,
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
            sw,
            order,
            start,
            rows,
            shuffle,
            chunk_rows,
            yb,
            lb,
            wb,
            zbuf,
            abuf,
            hbuf,
            dbuf,
            dbuf2,
            xtbuf,
            tbuf,
            _batch_key(epoch_key, batch),
        )
        status = _step(params, grad, opt_state, opt_kind, opt_hyper, lr, step + batch + 1, loss, clip_norm)
        if status != OK:
            return total, batch, status, batch
        total += loss * _batch_weight(sw, order, shuffle, start, rows)
        batch += 1
    return total, batch, OK, -1


train_epoch_chunked = jit(_train_epoch_chunked)


@jit
def _batch_weight(sw, order, shuffle, start, rows):
    """Row count, or weight sum, of the batch of ``rows`` rows that begins at ``start``."""
    if sw.shape[0] == 0:
        return float(rows)
    total = 0.0
    for k in range(start, start + rows):
        total += sw[order[k]] if shuffle else sw[k]
    return total


@jit
def _batch_key(epoch_key, batch):
    """The dropout key of one batch: distinct from the shuffle's counters."""
    return mix(epoch_key, (np.uint64(1) << np.uint64(40)) | np.uint64(batch))


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
    sw,
    chunk,
    zbuf,
    abuf,
    blas,
):
    """Mean data loss over all rows of ``x``, without dropout or the L2 term, in chunks of ``chunk`` rows."""
    n = x.shape[0]
    no_drop = np.zeros(sizes.size - 1)
    total = 0.0
    for start in range(0, n, chunk):
        rows = min(chunk, n - start)
        xin, yin, lin, win = batch_rows(x, y, labels, sw, labels[:0], False, start, 0, rows, x, y, labels, sw)
        out = forward(
            params, sizes, w_off, b_off, acts, no_drop, act_off, xin, zbuf, abuf, abuf, np.uint64(0), 0, blas
        )
        total += weight_sum(win, rows) * loss_and_delta(loss_code, out, yin, lin, win, out, False)
    return total / weight_sum(sw, n)


@jit
def predict(params, spec, x, out, zbuf, abuf):
    """Network outputs for every row of ``x`` into ``out`` (n, sizes[-1]).

    ``spec`` (int64) packs the network's description and the work buffers'
    layout, as ``predict_spec`` builds it.  Rows go through in chunks of at
    most ``capacity`` rows, the buffers' size.  One array instead of eight
    arguments because numba's dispatcher costs about 0.3 us per argument: a
    third of the time of a one-row predict.
    """
    n_layers, loss_code, capacity = spec[0], spec[1], spec[2]
    sizes = spec[3 : 4 + n_layers]
    w_off = spec[4 + n_layers : 4 + 2 * n_layers]
    b_off = spec[4 + 2 * n_layers : 4 + 3 * n_layers]
    acts = spec[4 + 3 * n_layers : 4 + 4 * n_layers]
    act_off = spec[4 + 4 * n_layers : 4 + 5 * n_layers]
    n = x.shape[0]
    no_drop = np.zeros(n_layers)
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
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
            0,
            True,
        )
        output_transform(loss_code, res, out[start : start + rows])


def predict_spec(sizes, w_off, b_off, acts, act_off, loss_code, capacity):
    """The int64 ``spec`` array of ``predict``: counts, then the integer arrays end to end."""
    head = [len(sizes) - 1, loss_code, capacity]
    return np.concatenate([head, sizes, w_off, b_off, acts, act_off]).astype(np.int64)
