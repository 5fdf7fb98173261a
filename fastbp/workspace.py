"""Work buffers for the passes over one batch: allocated once per fit, kept for the next fit."""

import numpy as np

from .kernels import table
from .kernels.dense import BLAS_SERIAL_MNK, SPLIT_MAX_MNK
from .kernels.table import Work

# A batch is split into chunks for parallel passes when every dense layer is
# at most this many weights and the batch has at least two chunks of
# MIN_CHUNK_ROWS rows.  Chunks run BLAS-free feature-major loops: on narrow
# layers (4-32-16-4) they reach 50-100 GFLOP/s a core where BLAS gets 2.5-40,
# but at 64x64 BLAS does better, so wider layers take one serial pass with
# BLAS instead.  The split depends on the batch size only, so results do not
# depend on the thread count.
SMALL_LAYER_WEIGHTS = 32 * 32
MIN_CHUNK_ROWS = 32
MAX_CHUNKS = 64
# Chunks of about CHUNK_ROWS rows, a multiple of ROW_ALIGN: the kernels' row
# loops then have no scalar tails, and each chunk's fixed cost (its gradient,
# about 1.5 us) stays small.  Measured on the chains grid case (10,000 rows,
# 2 threads, one pass): 0.63 ms with chunks of 157 rows, 0.55 with 256, 0.54
# with 640.
CHUNK_ROWS = 256
ROW_ALIGN = 32


def chunk_rows_for(plan, batch_rows):
    """Rows per parallel chunk for this network and batch size, or 0 for one serial pass."""
    largest = max((a * b for a, b in plan.dense_shapes()), default=0)
    if largest > SMALL_LAYER_WEIGHTS or batch_rows < 2 * MIN_CHUNK_ROWS:
        return 0
    rows = max(-(-batch_rows // MAX_CHUNKS), min(CHUNK_ROWS, batch_rows // 2))
    return -(-rows // ROW_ALIGN) * ROW_ALIGN


def _scratch_size(plan, rows):
    """Scratch of a serial pass: BLAS products summed in pieces, and input deltas that BLAS adds."""
    size = 0
    for row in plan.ops[plan.ops[:, table.KIND] == table.DENSE]:
        n_in, n_out = int(row[table.N_IN]), int(row[table.N_OUT])
        if BLAS_SERIAL_MNK < rows * n_in * n_out <= SPLIT_MAX_MNK:
            size = max(size, n_in * n_out)
        if row[table.ACC_IN]:
            size = max(size, rows * n_in)
    return size


class Workspace:
    """The buffers of ``fastbp.kernels.table.Work`` for one network and batch size.

    Parameters
    ----------
    plan : fastbp.plan.Plan
    rows : int
        Largest number of rows one pass handles (the batch size).
    dtype : numpy dtype
    training : bool
        Whether backward passes run (then deltas, gradients and scratch get buffers).
    gather : bool
        Whether shuffled batches are gathered (then a batch copy of y is kept).
    n_targets : int
        Columns of the float targets (0 when class labels are used instead).
    weighted : bool
        Whether rows carry sample weights (then shuffled batches gather them).
    chunk_rows : int
        0 for one pass over ``rows`` rows; otherwise the buffers hold one slice
        per chunk of ``chunk_rows`` rows, and one gradient per chunk.
    """

    def __init__(
        self, plan, rows, dtype, training=False, gather=False, n_targets=0, chunk_rows=0, weighted=False
    ):
        self.rows = rows
        self.chunk_rows = chunk_rows
        pass_rows = chunk_rows or rows
        n_chunks = -(-rows // chunk_rows) if chunk_rows else 1
        span = n_chunks * plan.row_width * pass_rows
        self.acts = np.empty(span, dtype=dtype)
        self.delta_width = plan.delta_width
        self.deltas = np.empty(n_chunks * plan.delta_width * pass_rows if training else 0, dtype=dtype)
        self.stats = np.empty(plan.n_stats)
        self.partials = np.empty((n_chunks, plan.n_stats))  # a batch norm's sums at its stats offset
        self.chunk_grads = np.empty((n_chunks if chunk_rows else 0, plan.n_params), dtype=dtype)
        self.chunk_loss = np.empty(n_chunks)
        self.scratch = np.empty(_scratch_size(plan, rows) if training and not chunk_rows else 0, dtype=dtype)
        gather_rows = rows if gather else 0
        self.yb = np.empty((gather_rows if n_targets else 0, max(n_targets, plan.n_out)), dtype=dtype)
        self.lb = np.empty(gather_rows if not n_targets else 0, dtype=np.int64)
        self.wb = np.empty(gather_rows if weighted else 0)

    def bundle(self, order):
        """The ``Work`` bundle, with ``order`` (n,) int64 as the permutation buffer."""
        return Work(
            self.acts, self.deltas, self.stats, self.partials, self.chunk_grads, self.chunk_loss,
            self.scratch, self.yb, self.lb, self.wb, order, self.chunk_rows, self.delta_width,
        )  # fmt: skip

    @property
    def nbytes(self):
        """Bytes held by the buffers."""
        return sum(v.nbytes for v in (self.acts, self.deltas, self.stats, self.partials, self.chunk_grads,
                                      self.chunk_loss, self.scratch, self.yb, self.lb, self.wb))  # fmt: skip
