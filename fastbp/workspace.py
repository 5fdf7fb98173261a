"""Work buffers for the passes over one batch: allocated once per fit, kept for the next fit."""

import numpy as np

# A batch is split into chunks for parallel passes when every layer is at most
# this many weights and the batch has at least two chunks of MIN_CHUNK_ROWS
# rows.  Chunks run BLAS-free feature-major loops: on narrow layers
# (4-32-16-4, 157-row chunks) they reach 17-26 GFLOP/s where BLAS gets 2.5-40,
# but at 64x64 they reach 11-30 against BLAS's 70-100 on one core, so wider
# layers take one serial pass with BLAS instead.  The split depends on the
# batch size only, so results do not depend on the thread count.
SMALL_LAYER_WEIGHTS = 32 * 32
MIN_CHUNK_ROWS = 32
MAX_CHUNKS = 64


def chunk_rows_for(layout, batch_rows):
    """Rows per parallel chunk for this network and batch size, or 0 for one serial pass."""
    largest = max(a * b for a, b in zip(layout.sizes[:-1], layout.sizes[1:]))
    if largest > SMALL_LAYER_WEIGHTS or batch_rows < 2 * MIN_CHUNK_ROWS:
        return 0
    return max(MIN_CHUNK_ROWS, -(-batch_rows // MAX_CHUNKS))


class Workspace:
    """Activation, pre-activation and delta buffers for one network and batch size.

    Parameters
    ----------
    layout : fastbp.layout.Layout
    rows : int
        Largest number of rows one pass handles (the batch size).
    dtype : numpy dtype
    dropout : bool
        Whether any layer uses dropout (then post-dropout activations get a buffer).
    gather : bool
        Whether shuffled batches are gathered (then a batch copy of X and y is kept).
    n_targets : int
        Columns of the float targets (0 when class labels are used instead).
    weighted : bool
        Whether rows carry sample weights (then shuffled batches gather them).
    chunk_rows : int
        0 for one pass over ``rows`` rows; otherwise the buffers hold one slice
        per chunk of ``chunk_rows`` rows, and one gradient per chunk.
    """

    def __init__(
        self, layout, rows, dtype, dropout=False, gather=False, n_targets=0, chunk_rows=0, weighted=False
    ):
        self.rows = rows
        self.chunk_rows = chunk_rows
        pass_rows = chunk_rows or rows
        n_chunks = -(-rows // chunk_rows) if chunk_rows else 1
        self.act_off, per_pass = layout.activation_offsets(pass_rows)
        self.zbuf = np.empty(n_chunks * per_pass, dtype=dtype)
        self.abuf = np.empty(n_chunks * per_pass, dtype=dtype)
        self.hbuf = np.empty(n_chunks * per_pass if dropout else 0, dtype=dtype)
        widest = pass_rows * max(layout.sizes)
        self.dbuf = np.empty(n_chunks * widest, dtype=dtype)
        self.dbuf2 = np.empty(n_chunks * widest, dtype=dtype)
        gather_rows = rows if gather else 0
        # the chunked path gathers features transposed into xtbuf, and needs
        # tbuf for each chunk's row-major output and delta (feature_major.py)
        chunk_slots = n_chunks if chunk_rows else 0
        self.xtbuf = np.empty(chunk_slots * pass_rows * layout.sizes[0], dtype=dtype)
        self.tbuf = np.empty(chunk_slots * 2 * pass_rows * layout.sizes[-1], dtype=dtype)
        self.xb = np.empty((0 if chunk_rows else gather_rows, layout.sizes[0]), dtype=dtype)  # serial path
        self.yb = np.empty((gather_rows if n_targets else 0, max(n_targets, layout.sizes[-1])), dtype=dtype)
        self.lb = np.empty(gather_rows if not n_targets else 0, dtype=np.int64)
        self.wb = np.empty(gather_rows if weighted else 0)
        self.chunk_grads = np.empty((n_chunks if chunk_rows else 0, layout.n_params), dtype=dtype)
        self.chunk_loss = np.empty(2 * n_chunks if chunk_rows else 0)  # each chunk's loss, then its weight

    @property
    def nbytes(self):
        """Bytes held by the buffers."""
        return sum(v.nbytes for v in vars(self).values() if isinstance(v, np.ndarray))
