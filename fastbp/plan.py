"""Compile a list of layer specs into the op table that the kernels walk.

The table (``fastbp.kernels.table`` documents its columns) has one row per
op; the flat ``params`` and ``buffers`` and the per-row work layout follow
from it.  Per row of a pass, the work buffers hold, in this order:

- the pass's input x (n_in values, ``table.X_BLOCK``; every pass copies it
  there);
- each op's output block;
- each layer norm's (4, rows) scratch (mean, 1/std, two backward sums);
- 2 * n_out values where a feature-major chunk computes its loss row-major.

Nothing here allocates more than the table itself: a plan can be checked
against a file's arrays before any buffer is made.
"""

import math
from functools import cached_property

import numpy as np

from .kernels import table
from .layers import Layer

MAX_OPS = 4096  # a network of more ops is refused (files are untrusted; real MLPs have a few dozen)


class Builder:
    """Collects ops while the layer specs emit themselves (``Layer.emit``)."""

    def __init__(self, n_in):
        self.rows = []  # [int row, float row, name prefix]
        self.n_params = 0
        self.n_buffers = 0
        self.n_stats = 0
        self.width = n_in  # per-row offset of the next block; x sits at 0
        self.names = []  # (name, offset, shape) of every parameter
        self.buffer_names = []
        self.prefix = ""
        self.denses = 0
        self.dropouts = {}

    def _op(self, kind, code, n_in, n_out, source, eps=0.0, momentum=0.0):
        if len(self.rows) >= MAX_OPS:
            raise ValueError(f"a network has at most {MAX_OPS} ops")
        row = np.full(table.N_COLUMNS, -1, dtype=np.int64)
        row[[table.KIND, table.CODE, table.N_IN, table.N_OUT, table.IN]] = kind, code, n_in, n_out, source
        row[table.OUT] = self.width
        row[[table.ACC_IN, table.ACC_SKIP]] = 0
        self.width += n_out
        values = np.zeros(table.N_FLOAT_COLUMNS)
        values[table.EPS], values[table.MOMENTUM] = eps, momentum
        self.rows.append([row, values])
        return row

    def _param(self, name, shape):
        offset = self.n_params
        self.names.append((self.prefix + name, offset, shape))
        self.n_params += math.prod(shape)  # Python ints: no int64 wrap-around for a hostile width
        return offset

    def dense(self, layer, source, width, n, bias):
        row = self._op(table.DENSE, -1, width, n, source)  # CODE -1: no fused activation (yet)
        row[table.PARAM] = self._param("weight", (width, n))
        if bias:
            row[table.BIAS] = self._param("bias", (n,))
        self.denses += 1
        return row[table.OUT], n

    def elementwise(self, kind, code, source, width, layer, eps=0.0):
        return self._op(kind, code, width, width, source, eps=eps)[table.OUT], width

    def dropout_counter(self):
        """The key counter of a dropout's mask: the index of the dense layer before it.

        ``MLP``'s masks therefore stay those of earlier fastbp versions
        (hidden layer l draws with counter l); a second dropout after the same
        dense layer, or one before any, gets a counter of its own above 2**32.
        """
        layer = self.denses - 1
        repeat = self.dropouts.get(layer, 0)
        self.dropouts[layer] = repeat + 1
        if layer >= 0 and repeat == 0:
            return layer
        return ((repeat + 1) << 32) + layer + 1

    def norm(self, kind, layer, source, width, momentum=0.0):
        name = type(layer).__name__
        if width < 2 and kind == table.LAYER_NORM:
            raise ValueError(f"{self.prefix}{name}: normalising a 1-wide layer over its features gives 0")
        row = self._op(kind, 0, width, width, source, eps=layer.eps, momentum=momentum)
        row[table.PARAM] = self._param("weight", (width,))
        row[table.BIAS] = self._param("bias", (width,))
        if kind == table.BATCH_NORM:
            row[table.AUX] = self.n_stats
            self.n_stats += 5 * width
            row[table.STATE] = self.n_buffers
            self.buffer_names.append((self.prefix + "running_mean", self.n_buffers, (width,)))
            self.buffer_names.append((self.prefix + "running_var", self.n_buffers + width, (width,)))
            self.n_buffers += 2 * width
        return row[table.OUT], width

    def residual(self, layer, source, width):
        prefix = self.prefix
        out, out_width = source, width
        for index, inner in enumerate(layer.layers):
            self.prefix = f"{prefix}{index}."
            out, out_width = inner.emit(self, out, out_width)
        self.prefix = prefix
        if out_width != width:
            raise ValueError(
                f"{prefix}Residual: its layers change the width from {width} to {out_width}; "
                "x + f(x) needs equal widths"
            )
        row = self._op(table.RESIDUAL, 0, width, width, out)
        row[table.SKIP] = source
        return row[table.OUT], width


class Plan:
    """A network compiled from layer specs.

    Parameters
    ----------
    n_in : int
        Input width.
    layers : sequence of fastbp.layers.Layer

    Attributes
    ----------
    ops : ndarray of shape (n_ops, table.N_COLUMNS), int64
    scalars : ndarray of shape (n_ops, table.N_FLOAT_COLUMNS), float64
    n_params, n_buffers : int
        Lengths of the flat parameter and running-statistics buffers.
    n_out : int
        Output width.
    row_width : int
        Values per row of one pass's work block.
    n_stats : int
        Length of the batch statistics block (5 per batch-norm feature).
    delta_width : int
        Values per row of one pass's gradient block (places reused, see ``_place_deltas``).
    parameter_names, buffer_names : list of (name, offset, shape)
    layers : list of fastbp.layers.Layer
    """

    def __init__(self, n_in, layers):
        if isinstance(n_in, bool) or not isinstance(n_in, (int, np.integer)) or n_in < 1:
            raise ValueError(f"the input width must be a positive integer, got {n_in!r}")
        layers = list(layers)
        if not layers:
            raise ValueError("a network needs at least one layer")
        build = Builder(int(n_in))
        source, width = table.X_BLOCK, int(n_in)
        for index, layer in enumerate(layers):
            if not isinstance(layer, Layer):
                raise ValueError(f"layer {index}: {layer!r} is not a layer (see fastbp.layers)")
            build.prefix = f"{index}."
            source, width = layer.emit(build, source, width)
        self.n_in, self.n_out = int(n_in), width
        self.layers = layers
        self.n_params, self.n_buffers, self.n_stats = build.n_params, build.n_buffers, build.n_stats
        self.parameter_names, self.buffer_names = build.names, build.buffer_names
        self.row_width = build.width
        self.ops = np.array([r[0] for r in build.rows], dtype=np.int64).reshape(-1, table.N_COLUMNS)
        self.scalars = np.array([r[1] for r in build.rows], dtype=np.float64).reshape(
            -1, table.N_FLOAT_COLUMNS
        )
        self._fuse_dense_activations()
        self._place_layer_norm_scratch()
        self.row_width += 2 * width  # last: network.py finds the feature-major loss scratch at the row's end
        self._mark_accumulating_deltas()
        self._place_deltas()

    def _fuse_dense_activations(self):
        """Fold an activation into the dense op before it, when nothing else reads that dense output.

        The dense op keeps z in its block (now AUX) and writes the
        activation's output block (OUT); see ``kernels/dense.py``.
        """
        ops, keep = self.ops, np.ones(len(self.ops), dtype=bool)
        for i in range(len(ops) - 1):
            dense, act = ops[i], ops[i + 1]
            if dense[table.KIND] != table.DENSE or act[table.KIND] != table.ACTIVATION:
                continue
            z = dense[table.OUT]
            readers = np.count_nonzero(ops[:, table.IN] == z) + np.count_nonzero(ops[:, table.SKIP] == z)
            if act[table.IN] != z or readers != 1:
                continue
            dense[table.CODE], dense[table.AUX], dense[table.OUT] = act[table.CODE], z, act[table.OUT]
            keep[i + 1] = False
        self.ops, self.scalars = ops[keep], self.scalars[keep]

    def _place_layer_norm_scratch(self):
        for row in self.ops:
            if row[table.KIND] == table.LAYER_NORM:
                row[table.AUX] = self.row_width
                self.row_width += 4

    def _mark_accumulating_deltas(self):
        """Walking backward, an op adds into an input's delta that a later op already wrote."""
        written = set()
        for row in self.ops[::-1]:
            for column, flag in ((table.IN, table.ACC_IN), (table.SKIP, table.ACC_SKIP)):
                block = row[column]
                if block != table.X_BLOCK and block >= 0:  # SKIP is -1 outside residual ops
                    row[flag] = int(block in written)
                    written.add(int(block))

    def _place_deltas(self):
        """Give each block's gradient a place in the delta buffer, reused once nothing needs it.

        Walking backward, a block's delta is born when the first op that reads
        the block writes it and dies after the op that produced the block has
        read it: a chain of layers alternates between two places, as a
        ping-pong pair of buffers would, and a residual block's skip keeps its
        place until the block's start.  First fit over the free places.
        """
        free = []  # (offset, width) of free places, sorted
        self.delta_width = 0
        place = {}

        def take(width):
            for k, (offset, room) in enumerate(free):
                if room >= width:
                    free[k : k + 1] = [(offset + width, room - width)] if room > width else []
                    return offset
            offset = self.delta_width
            self.delta_width += width
            return offset

        def give(offset, width):
            free.append((offset, width))
            free.sort()
            merged = []
            for start, room in free:
                if merged and merged[-1][0] + merged[-1][1] == start:
                    merged[-1] = (merged[-1][0], merged[-1][1] + room)
                else:
                    merged.append((start, room))
            free[:] = merged

        last = self.ops[-1]
        place[int(last[table.OUT])] = take(int(last[table.N_OUT]))
        for row in self.ops[::-1]:
            out, width = int(row[table.OUT]), int(row[table.N_OUT])
            row[table.D_OUT] = place[out]
            fused = row[table.KIND] == table.DENSE and row[table.CODE] >= 0
            row[table.D_AUX] = take(width) if fused else -1
            for column, delta_column in ((table.IN, table.D_IN), (table.SKIP, table.D_SKIP)):
                block = int(row[column])
                if block == table.X_BLOCK or block < 0:
                    row[delta_column] = -1
                    continue
                if block not in place:
                    place[block] = take(int(row[table.N_IN]) if column == table.IN else width)
                row[delta_column] = place[block]
            if fused:
                give(int(row[table.D_AUX]), width)
            give(place.pop(out), width)
        self.delta_width = max(self.delta_width, 1)

    @property
    def kinds(self):
        """The op kinds' names, in order."""
        return [table.KIND_NAMES[k] for k in self.ops[:, table.KIND]]

    @cached_property  # a plan does not change once built; fit asks on every call
    def family(self):
        """Which passes serve this plan (``kernels.network.PASSES``): the fewest kernels its op kinds need.

        "dense" for dense layers and activations alone, "mlp" with dropout too, else "full".
        """
        kinds = set(self.ops[:, table.KIND].tolist())
        if kinds <= {table.DENSE, table.ACTIVATION}:
            return "dense"
        if kinds <= {table.DENSE, table.ACTIVATION, table.DROPOUT}:
            return "mlp"
        return "full"

    @cached_property
    def has_batch_norm(self):
        return bool(np.any(self.ops[:, table.KIND] == table.BATCH_NORM))

    def dense_shapes(self):
        """(n_in, n_out) of every dense op, in order."""
        return list(self._dense_shapes)

    @cached_property
    def _dense_shapes(self):
        rows = self.ops[self.ops[:, table.KIND] == table.DENSE]
        return tuple((int(r[table.N_IN]), int(r[table.N_OUT])) for r in rows)

    def dense_offsets(self):
        """(weight offset, bias offset or -1) of every dense op, in order."""
        rows = self.ops[self.ops[:, table.KIND] == table.DENSE]
        return [(int(r[table.PARAM]), int(r[table.BIAS])) for r in rows]
