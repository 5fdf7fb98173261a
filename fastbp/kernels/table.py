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

from numba.core import types
from numba.experimental import structref
from numba.extending import overload

from .._jit import JIT_OPTIONS, jit_with_globals

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
CODE = 1  # activation code (dense: of its fused activation, -1 for none); dropout: its mask's key counter
N_IN = 2  # input width
N_OUT = 3  # output width
PARAM = 4  # offset of the weight (dense) or the scale (norms) in params; -1 if none
BIAS = 5  # offset of the bias (dense) or the shift (norms) in params; -1 if none
IN = 6  # per-row offset of the input block in the work buffers (X_BLOCK: the pass's input x)
OUT = 7  # per-row offset of the output block
SKIP = 8  # residual: per-row offset of the block's input, added to IN's values; else -1
AUX = 9  # dense with an activation: block of z; layer norm: its (4, rows) scratch; batch norm: stats offset
STATE = 10  # batch norm: offset of running_mean (then running_var) in buffers; else -1
ACC_IN = 11  # 1: the backward pass adds into the input's delta (another op wrote it first)
ACC_SKIP = 12  # the same for SKIP's delta
# where the gradients live: per-row offsets in the delta buffer, which reuses a block's place once
# the backward pass is done with it (see fastbp.plan), so the deltas of a deep network stay in cache
D_OUT = 13  # the delta of OUT
D_IN = 14  # the delta of IN (-1 for x, which needs none)
D_SKIP = 15  # the delta of SKIP (-1 when none)
D_AUX = 16  # dense with an activation: the delta of z
N_COLUMNS = 17
X_BLOCK = 0  # every pass copies its input x to the start of its rows: a block like any other

# columns of the float table
EPS = 0  # norms: added to the variance; dropout: the rate
MOMENTUM = 1  # batch norm: weight of the new batch's statistics in the running ones
N_FLOAT_COLUMNS = 2
RATE = EPS

# what a pass does, as bits of ``mode``
TRAIN = 1  # batch norm normalises with the batch's statistics
DROPOUT_ON = 2  # dropout draws masks (else it copies)
UPDATE_RUNNING = 4  # batch norm updates its running statistics


# Bundles that carry a network, its data and its buffers into compiled code.
# One argument instead of a dozen arrays: a swap of two same-typed buffers
# cannot happen, and no compiled function takes more than 8 arguments.
#
# Net, Work and Data are structrefs: a pointer to one reference-counted
# struct.  A NamedTuple of arrays costs a reference-count pair for every
# array in it each time it is handed to a function that LLVM does not inline
# (measured: fetching a batch's targets took 190 ns with Work and Data as
# NamedTuples, 11 and 4 arrays, for three slices), and the dispatcher reads
# every field of a NamedTuple argument (a one-row predict call: 1.24 us
# against 0.72 us for a structref).  Small bundles of numbers stay NamedTuples.
def _bundle(name, fields, doc):
    """A structref class ``name`` with ``fields``, constructed from Python or from compiled code."""

    class BundleType(types.StructRef):
        def preprocess_fields(self, fields):
            return tuple((field, types.unliteral(typ)) for field, typ in fields)

    BundleType.__name__ = BundleType.__qualname__ = name + "Type"
    structref.register(BundleType)

    def __new__(cls, *args):
        if len(args) != len(fields):
            raise TypeError(f"{name} takes {len(fields)} fields: {', '.join(fields)}")
        return construct(args)

    proxy = type(
        name, (structref.StructRefProxy,), {"__new__": __new__, "__doc__": doc, "__module__": __name__}
    )
    structref.define_proxy(proxy, BundleType, list(fields))
    construct = jit_with_globals(_construct, "_" + name, BUNDLE=proxy)
    return proxy, BundleType


BUNDLE = None  # the structref class that each compiled copy of _construct builds (bound in _bundle)


def _construct(fields):
    """A ``BUNDLE`` from the tuple of its fields.

    numba's own constructor for a structref made from Python is compiled in
    every process, never cached: it took 0.5 s of a warm start (import, fit
    and predict) for the three bundles.  These copies are cached like every
    kernel.
    """
    return BUNDLE(*fields)


Net = namedtuple("Net", ["ops", "scalars", "params", "buffers", "loss_code", "alpha", "row_width"])
Net.__doc__ = """A network as compiled code sees it.

ops : (n_ops, N_COLUMNS) int64.  scalars : (n_ops, N_FLOAT_COLUMNS) float64.
params : (P,) weights.  buffers : (B,) running statistics, same dtype.
loss_code : int.  alpha : float, the L2 penalty.
row_width : int, per-row length of one pass's work block (see ``fastbp.plan``).

A NamedTuple inside compiled code: every op reads the table and the
parameters, and each read of a structref's array field costs a
reference-count pair (a one-row predict ran 0.9 us slower with Net a
structref throughout).
"""

NetRef, NetRefType = _bundle(
    "NetRef", Net._fields, "``Net``'s fields in a structref: what ``predict`` takes from Python (see above)."
)


def as_net(net):
    """``net`` as a ``Net``: a NetRef's fields are copied out, a Net is returned as it is."""
    return net if isinstance(net, Net) else Net(*(getattr(net, f) for f in Net._fields))


@overload(as_net, jit_options=JIT_OPTIONS)
def _as_net(net):
    if isinstance(net, NetRefType):
        return lambda net: Net(net.ops, net.scalars, net.params, net.buffers, net.loss_code, net.alpha,
                               net.row_width)  # fmt: skip
    return lambda net: net


Work, WorkType = _bundle(
    "Work",
    ("acts", "deltas", "stats", "partials", "chunk_grads", "chunk_loss", "scratch", "yb", "lb", "wb", "order",
     "chunk_rows", "delta_width"),
    """Work buffers for the passes over one batch.

acts : (slots * row_width * rows,) each op's outputs, one slot of ``row_width * rows``
    per chunk (one slot for a serial pass).
deltas : (slots * delta_width * rows,) their gradients, at the D_ columns' offsets.
stats : (5 * batch-norm widths,) float64 batch statistics and gradient sums.
partials : (slots, 5 * batch-norm widths) float64 each chunk's partial sums, at the stats offsets.
chunk_grads : (slots, P) each chunk's gradient (empty for a serial pass).
chunk_loss : (slots,) float64 each chunk's share of the loss.
scratch : 1-D, for BLAS products summed in pieces and accumulated input deltas.
yb, lb, wb : gathered targets, labels and row weights of a shuffled batch.
order : (n,) int64 the epoch's permutation.
chunk_rows : rows per feature-major chunk, or 0 for one row-major pass.
delta_width : per-row length of one pass's delta block.
""",
)  # fmt: skip

Data, DataType = _bundle(
    "Data",
    ("x", "y", "labels", "sw"),
    """x : (n, n_in).  y : (n, k) float targets or empty.  labels : (n,) int64 or empty.
sw : (n,) float64 row weights or empty.""",
)

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
    [
        "acts",
        "deltas",
        "grad",
        "partials",
        "stats",
        "rows",
        "row0",
        "n",
        "fm",
        "blas",
        "mode",
        "key",
        "scratch",
    ],
)
Chunk.__doc__ = """What one op sees of a pass: its chunk's work blocks (1-D; x is the block at X_BLOCK),
gradient, partial sums, the batch statistics, its row count, its first row's index
in the batch, the batch's row count n, the storage order (fm: feature-major),
whether BLAS may run, the mode, the dropout key and scratch space."""
