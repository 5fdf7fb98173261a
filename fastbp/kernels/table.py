"""The compiled form of a network: one row of integers and one of floats per op.

``fastbp.plan`` builds the tables from a list of layer specs; every pass in
``network.py`` walks them.  Widths and offsets are plain integers, so a
network of any shape is one compiled signature per dtype.

Offsets into the work buffers are per row: an op's output block for a pass
of ``rows`` rows starts at ``OUT * rows`` and holds ``N_OUT * rows`` values,
laid out (rows, N_OUT) in a row-major pass and (N_OUT, rows) in a
feature-major one.
"""

from collections import namedtuple

# op kinds
DENSE = 0
ACTIVATION = 1
DROPOUT = 2
LAYER_NORM = 3
BATCH_NORM = 4
RESIDUAL = 5
KIND_NAMES = {
    DENSE: "dense",
    ACTIVATION: "activation",
    DROPOUT: "dropout",
    LAYER_NORM: "layer_norm",
    BATCH_NORM: "batch_norm",
    RESIDUAL: "residual",
}

# columns of the integer table
KIND = 0  # one of the kinds above
CODE = 1  # activation code; for dropout the counter of its mask's key
N_IN = 2  # input width
N_OUT = 3  # output width
PARAM = 4  # offset of the weight (dense) or the scale (norms) in params; -1 if none
BIAS = 5  # offset of the bias (dense) or the shift (norms) in params; -1 if none
IN = 6  # per-row offset of the input block in the work buffers; -1: the pass's input x
OUT = 7  # per-row offset of the output block
SKIP = 8  # residual: per-row offset of the block's input, added to IN's values; else -1
AUX = 9  # layer norm: per-row offset of its (4, rows) scratch; batch norm: offset in stats/partials
STATE = 10  # batch norm: offset of running_mean (then running_var) in buffers; else -1
ACC_IN = 11  # 1: the backward pass adds into the input's delta (another op wrote it first)
ACC_SKIP = 12  # the same for SKIP's delta
N_COLUMNS = 13

# columns of the float table
EPS = 0  # norms: added to the variance; dropout: the rate
MOMENTUM = 1  # batch norm: weight of the new batch's statistics in the running ones
N_FLOAT_COLUMNS = 2
RATE = EPS

# what a pass does, as bits of ``mode``
TRAIN = 1  # batch norm normalises with the batch's statistics
DROPOUT_ON = 2  # dropout draws masks (else it copies)
UPDATE_RUNNING = 4  # batch norm updates its running statistics

# Bundles that carry a network and its buffers into compiled code.  One
# NamedTuple argument instead of a dozen arrays: a swap of two same-typed
# buffers cannot happen, and no compiled function takes more than 8 arguments.
Net = namedtuple("Net", ["ops", "scalars", "params", "buffers", "loss_code", "alpha", "row_width"])
Net.__doc__ = """A network as compiled code sees it.

ops : (n_ops, N_COLUMNS) int64.  scalars : (n_ops, N_FLOAT_COLUMNS) float64.
params : (P,) weights.  buffers : (B,) running statistics, same dtype.
loss_code : int.  alpha : float, the L2 penalty.
row_width : int, per-row length of one pass's work block (see ``fastbp.plan``).
"""

Work = namedtuple(
    "Work",
    ["acts", "deltas", "stats", "partials", "chunk_grads", "chunk_loss", "scratch", "yb", "lb", "wb",
     "order", "chunk_rows"],
)  # fmt: skip
Work.__doc__ = """Work buffers for the passes over one batch.

acts, deltas : (slots * row_width * rows,) each op's outputs and their gradients,
    one slot of ``row_width * rows`` per chunk (one slot for a serial pass).
stats : (4 * batch-norm widths,) float64 batch statistics and gradient sums.
partials : (slots, 4 * batch-norm widths) float64 each chunk's partial sums, at the stats offsets.
chunk_grads : (slots, P) each chunk's gradient (empty for a serial pass).
chunk_loss : (slots,) float64 each chunk's share of the loss.
scratch : 1-D, for BLAS products summed in pieces and accumulated input deltas.
yb, lb, wb : gathered targets, labels and row weights of a shuffled batch.
order : (n,) int64 the epoch's permutation.
chunk_rows : rows per feature-major chunk, or 0 for one row-major pass.
"""

Data = namedtuple("Data", ["x", "y", "labels", "sw"])
Data.__doc__ = """x : (n, n_in).  y : (n, k) float targets or empty.  labels : (n,) int64 or empty.
sw : (n,) float64 row weights or empty."""

Optim = namedtuple("Optim", ["kind", "hyper", "state", "lr", "step", "clip"])
Optim.__doc__ = """kind : int.  hyper : float64 hyperparameters.  state : (n_state, P).
lr : this epoch's learning rate.  step : updates done before this epoch.  clip : gradient norm, 0 off."""

Epoch = namedtuple("Epoch", ["batch_size", "shuffle", "key", "mode", "blas", "min_rows"])
Epoch.__doc__ = """batch_size, shuffle, key (uint64, the epoch's), mode (bits above), blas (bool),
min_rows (int: batches with fewer rows are skipped; 2 with batch norm)."""

Batch = namedtuple("Batch", ["start", "rows", "shuffle", "key", "mode", "blas"])
Batch.__doc__ = """One pass: rows start..start+rows of the data (of ``order`` when shuffle), its
dropout key, mode and whether BLAS may run."""

Chunk = namedtuple(
    "Chunk",
    ["acts", "deltas", "x", "grad", "partials", "stats", "rows", "row0", "n", "fm", "blas", "mode", "key",
     "scratch"],
)  # fmt: skip
Chunk.__doc__ = """What one op sees of a pass: its chunk's work blocks (1-D), input x (1-D),
gradient, partial sums, the batch statistics, its row count, its first row's index
in the batch, the batch's row count n, the storage order (fm: feature-major),
whether BLAS may run, the mode, the dropout key and scratch space."""
