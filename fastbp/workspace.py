"""Work buffers for passes over at most ``rows`` rows, allocated once and reused."""

import numpy as np


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
    """

    def __init__(self, layout, rows, dtype, dropout=False, gather=False, n_targets=0):
        self.rows = rows
        self.act_off, total = layout.activation_offsets(rows)
        self.zbuf = np.empty(total, dtype=dtype)
        self.abuf = np.empty(total, dtype=dtype)
        self.hbuf = np.empty(total if dropout else 0, dtype=dtype)
        widest = rows * max(layout.sizes)
        self.dbuf = np.empty(widest, dtype=dtype)
        self.dbuf2 = np.empty(widest, dtype=dtype)
        gather_rows = rows if gather else 0
        self.xb = np.empty((gather_rows, layout.sizes[0]), dtype=dtype)
        self.yb = np.empty((gather_rows if n_targets else 0, max(n_targets, layout.sizes[-1])), dtype=dtype)
        self.lb = np.empty(gather_rows if not n_targets else 0, dtype=np.int64)
