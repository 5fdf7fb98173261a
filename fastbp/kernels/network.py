"""Whole-network passes: one forward and one backward walk over the op table, one epoch, predict.

A network travels into compiled code as a ``table.Net`` bundle: the op table
(``fastbp.plan`` builds it), the flat ``params`` and ``buffers``.  Each op
kind has its forward/backward pair in its own module (dense, activations,
dropout, layer_norm, batch_norm, residual); ``forward_op`` and
``backward_op`` dispatch on the kind, and are the only code that walks a
network.

How a pass runs is a property of the pass, not of the network:

- serially, as one row-major chunk of the whole batch, with BLAS for the
  products (``loss_gradient``), or
- as parallel feature-major chunks for narrow layers
  (``loss_gradient_parallel``): each chunk of rows runs the same ops on its
  own slices of the work buffers and writes its own gradient, and the chunk
  gradients are summed in chunk order afterwards.  The split depends only on
  the batch size, so the result is the same, bit for bit, for any number of
  threads.

Both come from one source (``_loss_gradient``); ``work.chunk_rows`` (0 for
one row-major pass) decides how a call runs, and the parallel twin is called
only for chunks.  A batch norm in training
needs statistics over the whole batch, so it is a barrier: the chunks stop
there, a serial reduction over their partial sums finishes the statistics,
and the chunks go on.
"""

import math

import numpy as np
from numba import prange

from .._jit import jit, jit_serial_and_parallel, jit_with_globals
from . import absent, activations, batch_norm, dense, dropout, layer_norm, residual
from .blocks import block, borrowed
from .losses import loss_and_delta, output_transform, weight_sum
from .optimizers import optimizer_update, optimizer_update_parallel
from .random import mix
from .table import (
    ACTIVATION,
    BATCH_NORM,
    D_OUT,
    DENSE,
    DROPOUT,
    IN,
    KIND,
    LAYER_NORM,
    N_IN,
    N_OUT,
    OUT,
    PARAM,
    RESIDUAL,
    SKIP,
    TRAIN,
    UPDATE_RUNNING,
    X_BLOCK,
    Batch,
    Chunk,
    Net,
    as_net,
)

OK = 0
NONFINITE_LOSS = 1
NONFINITE_GRAD = 2
CLIP_EPS = 1e-6  # torch.nn.utils.clip_grad_norm_ divides by the norm plus this


@jit
def forward_op(net, op, ch):
    """Run op ``op`` of ``net`` forward on one chunk."""
    kind = net.ops[op, KIND]
    if kind == DENSE:
        dense.forward(net, op, ch)
    elif kind == ACTIVATION:
        activations.forward(net, op, ch)
    elif kind == DROPOUT:
        dropout.forward(net, op, ch)
    elif kind == LAYER_NORM:
        layer_norm.forward(net, op, ch)
    elif kind == BATCH_NORM:
        batch_norm.forward(net, op, ch)
    elif kind == RESIDUAL:
        residual.forward(net, op, ch)


@jit
def backward_op(net, op, ch):
    """Run op ``op`` backward: its parameters' gradient into ``ch.grad``, its input's delta."""
    kind = net.ops[op, KIND]
    if kind == DENSE:
        dense.backward(net, op, ch)
    elif kind == ACTIVATION:
        activations.backward(net, op, ch)
    elif kind == DROPOUT:
        dropout.backward(net, op, ch)
    elif kind == LAYER_NORM:
        layer_norm.backward(net, op, ch)
    elif kind == BATCH_NORM:
        batch_norm.backward(net, op, ch)
    elif kind == RESIDUAL:
        residual.backward(net, op, ch)


@jit
def barrier_after(net, op, mode):
    """The first op after ``op`` that needs the whole batch (a batch norm in training), or n_ops."""
    n_ops = net.ops.shape[0]
    if not mode & TRAIN:
        return n_ops
    for i in range(op + 1, n_ops):
        if net.ops[i, KIND] == BATCH_NORM:
            return i
    return n_ops


@jit
def barrier_before(net, op, mode):
    """The last op before ``op`` that needs the whole batch, or -1."""
    if not mode & TRAIN:
        return -1
    for i in range(op - 1, -1, -1):
        if net.ops[i, KIND] == BATCH_NORM:
            return i
    return -1


@jit
def borrowed_net(net):
    """``net`` with borrowed arrays (``blocks.borrowed``): what every op of a pass reads.

    Compiled callers only: returned to Python, a borrowed array would have no owner.
    """
    return Net(
        borrowed(net.ops), borrowed(net.scalars), borrowed(net.params), borrowed(net.buffers), net.loss_code,
        net.alpha, net.row_width,
    )  # fmt: skip


@jit
def _chunk(net, grad, data, work, batch, c, chunk_rows):
    """Chunk ``c`` of a pass: borrowed views of its slices of the work buffers and its gradient
    (compiled callers only, as ``borrowed_net``)."""
    rows = min(chunk_rows, batch.rows - c * chunk_rows)
    span = net.row_width * chunk_rows
    acts = work.acts[c * span : c * span + net.row_width * rows]
    delta_span = work.delta_width * chunk_rows
    deltas = work.deltas[c * delta_span : c * delta_span + work.delta_width * rows]
    fm = work.chunk_rows > 0
    # chunk_grads holds no row on a serial pass: the one chunk writes grad (c - c, not 0: a
    # parfor index may be unsigned, and unsigned with signed unifies to float)
    grads = work.chunk_grads if fm else grad.reshape(1, grad.size)
    return Chunk(
        borrowed(acts), borrowed(deltas), borrowed(grads[c if fm else c - c]), borrowed(work.partials[c]),
        borrowed(work.stats), rows, c * chunk_rows, batch.rows, fm, batch.blas, batch.mode, batch.key,
        borrowed(work.scratch),
    )  # fmt: skip


@jit
def gather_fm(x, order, shuffle, start, lo, hi, xT):
    """xT[k, i] = x[row, k] for the batch rows lo..hi (through ``order`` when ``shuffle``)."""
    for i in range(hi - lo):
        src = order[start + lo + i] if shuffle else start + lo + i
        for k in range(x.shape[1]):
            xT[k, i] = x[src, k]


@jit
def gather_rows(x, order, shuffle, start, rows, block):
    """block[k * n_in + j] = x[row, j] for the batch rows 0..rows (through ``order`` when ``shuffle``)."""
    n_in = x.shape[1]
    # element loops: a slice assignment per row costs more than copying the row
    for k in range(rows):
        src = order[start + k] if shuffle else start + k
        for j in range(n_in):
            block[k * n_in + j] = x[src, j]


@jit
def _gather(x, order, shuffle, start, acts, row0, rows, fm):
    """Copy the chunk's rows of x into its input block (``X_BLOCK``), transposed when feature-major.

    Arrays, not bundles: a call costs a reference-count pair for every array
    in the bundles it is handed (measured: 176 ns with the bundles, here).
    """
    n_in = x.shape[1]
    block = acts[X_BLOCK * rows : (X_BLOCK + n_in) * rows]
    if fm:
        gather_fm(x, order, shuffle, start, row0, row0 + rows, block.reshape(n_in, rows))
    else:
        gather_rows(x, order, shuffle, start, rows, block)


@jit
def _rows_if(array, use, start, stop):
    """``array[start:stop]`` when ``use``, else an empty slice: one slice, no branch between two arrays."""
    return array[start if use else 0 : stop if use else 0]


@jit
def target_rows(data, start, stop):
    """Targets and row weights of the data rows ``start..stop`` as ``(y, labels, w)`` slices.

    Of ``y`` and ``labels`` the unused one comes back empty, and so does ``w``
    when the rows carry no weights.
    """
    use_labels = data.labels.shape[0] > 0
    return (
        _rows_if(data.y, not use_labels, start, stop),
        _rows_if(data.labels, use_labels, start, stop),
        _rows_if(data.sw, data.sw.shape[0] > 0, start, stop),
    )


@jit
def batch_targets(data, work, batch, lo, hi):
    """``target_rows`` of the batch rows ``lo..hi``; shuffled, row ``k`` of the batch is data
    row ``order[start + k]``, gathered into row ``k`` of ``work.yb`` or ``work.lb`` (and ``work.wb``)."""
    if not batch.shuffle:
        return target_rows(data, batch.start + lo, batch.start + hi)
    use_labels = data.labels.shape[0] > 0
    weighted = data.sw.shape[0] > 0
    for k in range(lo, hi):
        src = work.order[batch.start + k]
        if use_labels:
            work.lb[k] = data.labels[src]
        else:
            for j in range(data.y.shape[1]):
                work.yb[k, j] = data.y[src, j]
        if weighted:
            work.wb[k] = data.sw[src]
    return (
        _rows_if(work.yb, not use_labels, lo, hi),
        _rows_if(work.lb, use_labels, lo, hi),
        _rows_if(work.wb, weighted, lo, hi),
    )


@jit
def _output_loss(net, data, work, batch, ch, norm):
    """The chunk's share of the batch loss; writes its gradient into the output's delta.

    A feature-major chunk computes the loss on a row-major copy of its
    (small) output block, in the scratch block at the end of its row
    (``fastbp.plan``), and transposes the gradient back.
    """
    last = net.ops.shape[0] - 1
    off, k = net.ops[last, OUT], net.ops[last, N_OUT]
    rows = ch.rows
    y, labels, w = batch_targets(data, work, batch, ch.row0, ch.row0 + rows)
    out, d = block(ch.acts, off, ch.rows, k), block(ch.deltas, net.ops[last, D_OUT], ch.rows, k)
    if not ch.fm:
        return loss_and_delta(
            net.loss_code, out.reshape(rows, k), y, labels, w, d.reshape(rows, k), True, norm
        )
    t = net.row_width - 2 * k
    out_rm = ch.acts[t * rows : (t + k) * rows].reshape(rows, k)
    d_rm = ch.acts[(t + k) * rows : (t + 2 * k) * rows].reshape(rows, k)
    out_fm, d_fm = out.reshape(k, rows), d.reshape(k, rows)
    for j in range(k):
        for i in range(rows):
            out_rm[i, j] = out_fm[j, i]
    loss = loss_and_delta(net.loss_code, out_rm, y, labels, w, d_rm, True, norm)
    for j in range(k):
        for i in range(rows):
            d_fm[j, i] = d_rm[i, j]
    return loss


@jit
def l2_penalty(net, grad, norm):
    """Add scikit-learn's L2 term to ``grad``: alpha * W / norm; return 0.5 * alpha * |W|^2 / norm.

    Dense weights only (not biases or norm scales).  ``norm`` is the batch's
    row count, or its weight sum with row weights (scikit-learn's rule).
    """
    total = 0.0
    scale = net.alpha / norm
    params = net.params
    for op in range(net.ops.shape[0]):
        if net.ops[op, KIND] != DENSE:
            continue
        start = net.ops[op, PARAM]
        for i in range(start, start + net.ops[op, N_IN] * net.ops[op, N_OUT]):
            total += params[i] * params[i]
            grad[i] += scale * params[i]
    return 0.5 * scale * total


@jit
def batch_weight(sw, order, shuffle, start, rows):
    """Row count, or weight sum, of the batch of ``rows`` rows that begins at ``start``."""
    if sw.shape[0] == 0:
        return float(rows)
    total = 0.0
    for k in range(start, start + rows):
        total += sw[order[k]] if shuffle else sw[k]
    return total


def _loss_gradient(net, grad, data, work, batch):
    """Loss of one batch (plus the L2 term) and its gradient into ``grad``; returns (loss, batch weight).

    The batch is rows ``start .. start + rows`` of ``data`` (through
    ``work.order`` when shuffled).  With ``work.chunk_rows`` > 0 it runs as
    feature-major chunks of that many rows, each writing its own row of
    ``work.chunk_grads``; else as one row-major chunk writing ``grad``.
    Each stage below runs every chunk up to the next barrier.
    """
    n_ops = net.ops.shape[0]
    chunk_rows = work.chunk_rows if work.chunk_rows > 0 else batch.rows
    n_chunks = (batch.rows + chunk_rows - 1) // chunk_rows
    weight = batch_weight(data.sw, work.order, batch.shuffle, batch.start, batch.rows)
    mode = batch.mode
    chunk_loss = work.chunk_loss  # a local name: parfors dropped the writes through work.chunk_loss[c]
    lo = 0
    stop = barrier_after(net, -1, mode)
    back = barrier_before(net, n_ops, mode)
    while True:
        last = stop == n_ops
        for c in prange(n_chunks):
            ch = _chunk(net, grad, data, work, batch, c, chunk_rows)
            if lo == 0:
                _gather(data.x, work.order, batch.shuffle, batch.start, ch.acts, ch.row0, ch.rows, ch.fm)
            for op in range(lo, stop):
                forward_op(net, op, ch)
            if last:
                chunk_loss[c] = _output_loss(net, data, work, batch, ch, weight)
                for op in range(n_ops - 1, back, -1):
                    backward_op(net, op, ch)
                if back >= 0:
                    batch_norm.backward_partials(net, back, ch)
            else:
                batch_norm.partial_mean(net, stop, ch)
        if last:
            break
        batch_norm.reduce_mean(net, stop, work.stats, work.partials, n_chunks, batch.rows)
        for c in prange(n_chunks):
            batch_norm.partial_var(net, stop, _chunk(net, grad, data, work, batch, c, chunk_rows))
        batch_norm.reduce_var(net, stop, work.stats, work.partials, n_chunks, batch.rows)
        lo = stop
        stop = barrier_after(net, stop, mode)
    grads = work.chunk_grads if work.chunk_rows > 0 else grad.reshape(1, grad.size)
    hi = back
    while hi >= 0:
        batch_norm.reduce_grad(net, hi, work.stats, grads, n_chunks)
        below = barrier_before(net, hi, mode)
        for c in prange(n_chunks):
            ch = _chunk(net, grad, data, work, batch, c, chunk_rows)
            for op in range(hi, below, -1):
                backward_op(net, op, ch)
            if below >= 0:
                batch_norm.backward_partials(net, below, ch)
        hi = below
    if work.chunk_rows > 0:
        grad[:] = 0.0
        for c in range(n_chunks):
            for p in range(grad.size):
                grad[p] += work.chunk_grads[c, p]
    loss = 0.0
    for c in range(n_chunks):
        loss += chunk_loss[c]
    if net.alpha > 0.0:
        loss += l2_penalty(net, grad, weight if weight > 0.0 else float(batch.rows))
    return loss, weight


loss_gradient, loss_gradient_parallel = jit_serial_and_parallel(_loss_gradient)


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
def _step(params, grad, optim, step, loss):
    """Apply one optimizer step if the loss and gradient are finite; return the status.

    With ``optim.clip > 0`` the gradient is first scaled by
    ``clip / (norm + 1e-6)`` when that is below 1, ``norm`` being its
    global L2 norm: ``torch.nn.utils.clip_grad_norm_``, epsilon included.
    """
    if not math.isfinite(loss):
        return NONFINITE_LOSS
    if not all_finite(grad):
        return NONFINITE_GRAD
    if optim.clip > 0.0:
        squares = 0.0
        for p in range(grad.size):
            squares += grad[p] * grad[p]
        norm = math.sqrt(squares)
        scale = optim.clip / (norm + CLIP_EPS)
        if scale < 1.0:
            for p in range(grad.size):
                grad[p] *= scale
    optimizer_update(optim.kind, optim.hyper, optim.lr, step, params, grad, optim.state)
    return OK


@jit
def batch_key(epoch_key, batch):
    """The dropout key of one batch: distinct from the shuffle's counters."""
    return mix(epoch_key, (np.uint64(1) << np.uint64(40)) | np.uint64(batch))


PASS = None  # the pass each compiled copy of _train_epoch calls (bound below)


def _train_epoch(net, grad, optim, data, work, epoch):
    """One epoch of mini-batch training, all in compiled code.

    Batches are consecutive slices of the data (the last one may be shorter),
    or of a permutation of the rows drawn from ``epoch.key`` when shuffled.
    Each step is forward, mean batch loss, backward and an optimizer update.
    A batch of fewer than ``epoch.min_rows`` rows (a last batch of one row
    with batch norm) is skipped.

    Returns ``(summed row loss, summed row weight, steps taken, status,
    failing batch index)``.  A step whose loss or gradient is not finite is
    not applied; the epoch stops there with status NONFINITE_LOSS or
    NONFINITE_GRAD.
    """
    n = data.x.shape[0]
    shared = borrowed_net(net)
    if epoch.shuffle:
        shuffled_order(work.order, epoch.key)
    total = 0.0
    weight = 0.0
    steps = 0
    index = 0
    for start in range(0, n, epoch.batch_size):
        rows = min(epoch.batch_size, n - start)
        b = index
        index += 1
        if rows < epoch.min_rows:
            continue
        batch = Batch(start, rows, epoch.shuffle, batch_key(epoch.key, b), epoch.mode, epoch.blas)
        loss, w = PASS(shared, grad, data, work, batch)
        status = _step(net.params, grad, optim, optim.step + steps + 1, loss)
        if status != OK:
            return total, weight, steps, status, b
        if epoch.mode & UPDATE_RUNNING:
            batch_norm.update_running(net, work.stats, rows)
        total += loss * w
        weight += w
        steps += 1
    return total, weight, steps, OK, -1


# A step with the optimizers' parallel loops, for networks of PARALLEL_MIN_ELEMENTS parameters and more.
_step_parallel_update = jit_with_globals(
    _step.py_func, "_parallel_update", optimizer_update=optimizer_update_parallel
)


@jit
def reads_x_first_only(net):
    """True when the first op is dense and no other op reads the pass's input."""
    if net.ops[0, KIND] != DENSE:
        return False
    for op in range(1, net.ops.shape[0]):
        if net.ops[op, IN] == X_BLOCK or net.ops[op, SKIP] == X_BLOCK:
            return False
    return True


@jit
def forward_rows(net, acts, x, rows):
    """Output block (1-D, a borrowed view: compiled callers only) of a serial row-major pass over the
    ``rows`` rows of ``x`` (n, n_in), C order.

    When only the first op, a dense one, reads x, it reads x where it lies;
    else x is copied into its block first (on 100,000 rows of 784-256-128-10
    the copy cost 10% of a predict).
    """
    net = borrowed_net(net)
    acts = borrowed(acts)
    empty = acts[:0]
    no_stats = net.scalars[0, :0]  # an empty float64 view: no allocation on the one-row predict path
    serial = rows < 0  # False, typed as a plain bool like the chunks' flags
    ch = Chunk(
        acts[: net.row_width * rows], empty, empty, no_stats, no_stats, rows, rows - rows, rows, serial,
        not serial, rows - rows, np.uint64(0), empty,
    )  # fmt: skip
    flat = x.reshape(x.size)
    first = 0
    if reads_x_first_only(net):
        dense.forward_from(net, 0, ch, flat)
        first = 1
    else:
        x_block = ch.acts[X_BLOCK * rows : X_BLOCK * rows + flat.size]
        for i in range(flat.size):
            x_block[i] = flat[i]
    for op in range(first, net.ops.shape[0]):
        forward_op(net, op, ch)
    last = net.ops.shape[0] - 1
    return block(ch.acts, net.ops[last, OUT], rows, net.ops[last, N_OUT])


@jit
def evaluate_loss(net, acts, data, capacity):
    """Mean data loss over all rows (no dropout, no L2 term, running statistics), ``capacity`` rows a pass."""
    x = data.x
    n = x.shape[0]
    k = net.ops[net.ops.shape[0] - 1, N_OUT]
    total = 0.0
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        out = forward_rows(net, acts, x[start : start + rows], rows).reshape(rows, k)
        y, labels, w = target_rows(data, start, start + rows)
        norm = weight_sum(w, rows)
        total += norm * loss_and_delta(net.loss_code, out, y, labels, w, out, False, norm)
    return total / weight_sum(data.sw, n)


@jit
def predict(net, acts, x, out):
    """Network outputs for every row of ``x`` (n, n_in) into ``out`` (n, k), the output function applied.

    ``net`` is a ``NetRef``: a one-row predict is dominated by the call itself.
    Returns False, having computed nothing, when ``x`` holds NaN or inf.
    Rows go through in passes of as many rows as ``acts`` holds.
    """
    net = as_net(net)
    if not all_finite(x.reshape(x.size)):
        return False
    n = x.shape[0]
    k = out.shape[1]
    capacity = acts.size // net.row_width
    for start in range(0, n, capacity):
        rows = min(capacity, n - start)
        res = forward_rows(net, acts, x[start : start + rows], rows)
        output_transform(net.loss_code, res.reshape(rows, k), out[start : start + rows])
    return True


class Passes:
    """The entry points of one family of passes.

    ``loss_gradient`` (and ``loss_gradient_parallel``, its chunked twin),
    ``evaluate_loss`` and ``predict`` are attributes; ``train_epoch(chunked,
    parallel_update)`` builds an epoch kernel the first time it is asked for.

    An epoch is a kernel of its own for each pass and each optimizer loop:
    calling a parallel function from the serial epoch kernel slowed that
    kernel's small steps down by half, even when the call was not taken, and
    a kernel compiles only what it can reach, so a first fit compiles one of
    the four.
    """

    def __init__(self, suffix, loss_gradient, loss_gradient_parallel, evaluate_loss, predict, **epoch_names):
        self.suffix = suffix
        self.loss_gradient = loss_gradient
        self.loss_gradient_parallel = loss_gradient_parallel
        self.evaluate_loss = evaluate_loss
        self.predict = predict
        self._epoch_names = epoch_names  # globals bound in every epoch kernel of the family
        self._epochs = {}

    def train_epoch(self, chunked=False, parallel_update=False):
        """The epoch kernel over the chunked (parallel) or the serial pass, with the optimizers'
        parallel loops (for PARALLEL_MIN_ELEMENTS parameters and more) or their serial ones."""
        key = (bool(chunked), bool(parallel_update))
        if key not in self._epochs:
            name = self.suffix + ("_parallel" if chunked else "_serial") + ("_big" if parallel_update else "")
            self._epochs[key] = jit_with_globals(
                _train_epoch, name, PASS=self.loss_gradient_parallel if chunked else self.loss_gradient,
                _step=_step_parallel_update if parallel_update else _step, **self._epoch_names,
            )  # fmt: skip
        return self._epochs[key]


def _passes(suffix, **absent_kinds):
    """The passes compiled with ``absent`` in place of the kernel modules named in ``absent_kinds``.

    Measured on a first fit and predict of 20-64-3 in a fresh cache: 32.4 s
    with the full passes, 22.4 s with the norm and residual kernels left out.
    """
    fwd = jit_with_globals(forward_op.py_func, suffix, **absent_kinds)
    bwd = jit_with_globals(backward_op.py_func, suffix, **absent_kinds)
    one_stage = {"forward_op": fwd, "backward_op": bwd, "batch_norm": absent,
                 "barrier_after": absent.barrier_after, "barrier_before": absent.barrier_before}  # fmt: skip
    rows = jit_with_globals(forward_rows.py_func, suffix, forward_op=fwd)
    chunked = jit_with_globals(_loss_gradient, suffix + "_parallel", parallel=True, **one_stage)
    return Passes(
        suffix,
        loss_gradient=jit_with_globals(_loss_gradient, suffix, **one_stage),
        loss_gradient_parallel=chunked,
        evaluate_loss=jit_with_globals(evaluate_loss.py_func, suffix, forward_rows=rows),
        predict=jit_with_globals(predict.py_func, suffix, forward_rows=rows),
        batch_norm=absent,
    )


class _Families(dict):
    """The passes for a plan, by the op kinds it has (``Plan.family``), each family built when first
    asked for: a family compiles only the kernels its kinds need (see ``absent``), and a process
    that never trains an MLP never makes its dispatchers."""

    ABSENT = {
        "mlp": ("layer_norm", "batch_norm", "residual"),
        "dense": ("dropout", "layer_norm", "batch_norm", "residual"),
    }

    def __missing__(self, family):
        if family == "full":
            passes = Passes("", loss_gradient, loss_gradient_parallel, evaluate_loss, predict)
        else:
            passes = _passes("_" + family, **dict.fromkeys(self.ABSENT[family], absent))
        self[family] = passes
        return passes


PASSES = _Families()
train_epoch = PASSES["full"].train_epoch()  # the full family's serial epoch, for tests and ``fastbp info``
