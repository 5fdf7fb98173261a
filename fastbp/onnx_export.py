"""ONNX export: a fastbp network, and the steps around it, as an ONNX graph.

The graph is built with ``onnx.helper`` and checked with
``onnx.checker.check_model(full_check=True)`` before it is written.  Each
layer becomes standard operators:

- ``Dense``: ``Gemm`` (weight (n_in, n), so no transpose; bias as C).
- activations: ``Relu``, ``LeakyRelu`` (0.01), ``Elu`` (1), ``Gelu`` (opset
  20 and later; below it the exact form 0.5 x (1 + erf(x / sqrt 2))),
  ``Sigmoid``, ``Tanh``, ``Softplus`` (kept linear above 20, as fastbp and
  PyTorch do, through ``Where``) and SiLU as x * Sigmoid(x).  onnxruntime
  runs ``Elu``, ``Softplus``, ``Erf`` and ``Gelu`` in float32 only (and
  ``LeakyRelu``'s slope is a float32 attribute), so a float64 graph spells
  those activations in arithmetic it runs in float64: leaky ReLU with a
  float64 slope, ELU as exp(x) - 1 below 0, softplus as max(x, 0) +
  log1p(exp(-|x|)), GELU as 0.5 x erfc(-x / sqrt 2) with erfc from a
  Chebyshev series (Numerical Recipes' form, about 1e-13 relative).
- ``LayerNorm``: ``LayerNormalization`` (opset 17 and later).
- ``BatchNorm``: ``BatchNormalization`` in inference form, with the running
  statistics.
- ``Residual``: its layers, then ``Add``.
- ``Dropout``: nothing (the identity at inference).

Then the output function ``predict`` applies (``Softmax`` for
cross_entropy, ``Sigmoid`` for binary_cross_entropy).  Inputs and outputs
have the model's dtype and a dynamic batch dimension (``"N"``).

This module needs the ``onnx`` package (``pip install "fastbp[onnx]"``).
"""

import functools
import math

import numpy as np

from . import io
from .kernels.losses import OUTPUTS_OF_LOSS

DEFAULT_OPSET = 17
MIN_OPSET = 13  # Softmax over one axis, Gemm without C


def _onnx():
    try:
        import onnx
    except ImportError:
        raise ImportError('ONNX export needs the onnx package: pip install "fastbp[onnx]"') from None
    return onnx


class Graph:
    """An ONNX graph being built: nodes, initializers, inputs and outputs, with unique names.

    Parameters
    ----------
    dtype : numpy dtype
        float32 or float64: the dtype of every float tensor.
    opset : int, optional
        The ``ai.onnx`` opset (``DEFAULT_OPSET`` when None).
    """

    def __init__(self, dtype, opset=None):
        self.onnx = _onnx()
        opset = DEFAULT_OPSET if opset is None else opset
        newest = self.onnx.defs.onnx_opset_version()
        if isinstance(opset, bool) or not isinstance(opset, int) or not MIN_OPSET <= opset <= newest:
            raise ValueError(f"opset must be an integer from {MIN_OPSET} to {newest}, got {opset!r}")
        self.opset = opset
        self.dtype = np.dtype(dtype)
        self.nodes, self.initializers, self.inputs, self.outputs = [], [], [], []
        self._used, self._scalars = set(), {}
        self.domains = {}  # other operator sets used: {"ai.onnx.ml": version}

    def name(self, hint):
        """A tensor name not used yet, from ``hint``."""
        name, k = hint, 1
        while name in self._used:
            k += 1
            name = f"{hint}_{k}"
        self._used.add(name)
        return name

    def constant(self, hint, array, dtype=None):
        """Add ``array`` as an initializer (in the graph's dtype unless ``dtype``); returns its name.
        A scalar already added under the same hint is shared."""
        array = np.asarray(array, dtype=self.dtype if dtype is None else dtype)
        key = (hint, array.dtype.str, array.item()) if array.ndim == 0 else None
        if key in self._scalars:
            return self._scalars[key]
        name = self.name(hint)
        self.initializers.append(self.onnx.numpy_helper.from_array(array, name))
        if key is not None:
            self._scalars[key] = name
        return name

    def node(self, op, inputs, hint, **attributes):
        """Add one ``op`` node; returns the name of its (single) output."""
        out = self.name(hint)
        self.nodes.append(self.onnx.helper.make_node(op, list(inputs), [out], name=out, **attributes))
        return out

    def rename(self, tensor, name):
        """An ``Identity`` whose output is ``name`` (graph outputs get meaningful names)."""
        if name in self._used:
            raise ValueError(f"the output name {name!r} is taken (an input column of that name?)")
        self._used.add(name)
        self.nodes.append(self.onnx.helper.make_node("Identity", [tensor], [name], name=name))
        return name

    def input(self, name, width, elem=None):
        if name in self._used:
            raise ValueError(f"two inputs named {name!r}")
        self._used.add(name)
        self.inputs.append(self._value_info(name, [width], elem))
        return name

    def output(self, name, dims, elem=None):
        self.outputs.append(self._value_info(name, dims, elem))

    def _value_info(self, name, dims, elem):
        elem = self.onnx.helper.np_dtype_to_tensor_dtype(self.dtype) if elem is None else elem
        return self.onnx.helper.make_tensor_value_info(name, elem, ["N", *dims])

    def model(self, graph_name, doc=""):
        """The checked ``onnx.ModelProto``."""
        helper = self.onnx.helper
        graph = helper.make_graph(self.nodes, graph_name, self.inputs, self.outputs, self.initializers)
        from ._version import __version__

        imports = [helper.make_opsetid("", self.opset)]
        imports += [helper.make_opsetid(domain, version) for domain, version in self.domains.items()]
        model = helper.make_model(graph, opset_imports=imports, producer_name="fastbp", doc_string=doc)
        model.producer_version = __version__
        model.ir_version = min(model.ir_version, _IR_OF_OPSET.get(self.opset, model.ir_version))
        self.onnx.checker.check_model(model, full_check=True)
        return model


# the newest IR version each opset came with, so a model runs on runtimes of that generation
_IR_OF_OPSET = {13: 7, 14: 7, 15: 8, 16: 8, 17: 8, 18: 8, 19: 9, 20: 9, 21: 10, 22: 10}


# --------------------------------------------------------------------- layers
# onnxruntime has no float64 kernels for Elu, Softplus and Erf (nor Gelu, which expands to Erf), and
# LeakyRelu's slope is a float32 attribute, so float64 graphs spell those activations in operators
# it runs in float64, each to within a few units in the last place of fastbp's own value.
def _elu(g, x):
    if g.dtype == np.float32:
        return g.node("Elu", [x], "elu", alpha=1.0)
    positive = g.node("Greater", [x, g.constant("zero", 0.0)], "elu_positive")
    below = g.node("Sub", [g.node("Exp", [x], "elu_exp"), g.constant("one", 1.0)], "elu_below")
    return g.node("Where", [positive, x, below], "elu")


def _leaky_relu(g, x):
    if g.dtype == np.float32:
        return g.node("LeakyRelu", [x], "leaky_relu", alpha=0.01)
    # LeakyRelu's alpha is a float32 attribute: 0.01 would be 0.0099999998 in a float64 graph
    positive = g.node("Greater", [x, g.constant("zero", 0.0)], "leaky_positive")
    return g.node(
        "Where", [positive, x, g.node("Mul", [x, g.constant("slope", 0.01)], "leaky")], "leaky_relu"
    )


def _log1p(g, y, hint):
    """log(1 + y) to full precision for small y: log(w) * y / (w - 1), w = 1 + y (y where w == 1)."""
    w = g.node("Add", [y, g.constant("one", 1.0)], f"{hint}_w")
    ratio = g.node("Div", [y, g.node("Sub", [w, g.constant("one", 1.0)], f"{hint}_w1")], f"{hint}_ratio")
    scaled = g.node("Mul", [g.node("Log", [w], f"{hint}_log"), ratio], f"{hint}_scaled")
    return g.node("Where", [g.node("Equal", [w, g.constant("one", 1.0)], f"{hint}_tiny"), y, scaled], hint)


def _softplus(g, x):
    linear = g.node("Greater", [x, g.constant("softplus_threshold", 20.0)], "softplus_linear")
    if g.dtype == np.float32:
        curve = g.node("Softplus", [x], "softplus_curve")
    else:  # max(x, 0) + log1p(exp(-|x|))
        tail = g.node(
            "Exp", [g.node("Neg", [g.node("Abs", [x], "softplus_abs")], "softplus_neg")], "softplus_exp"
        )
        curve = g.node(
            "Add", [g.node("Relu", [x], "softplus_relu"), _log1p(g, tail, "softplus_log1p")], "softplus_curve"
        )
    return g.node("Where", [linear, x, curve], "softplus")


def _gelu(g, x):
    if g.dtype == np.float64:
        return _gelu_float64(g, x)
    if g.opset >= 20:
        return g.node("Gelu", [x], "gelu")
    scaled = g.node("Div", [x, g.constant("sqrt2", math.sqrt(2.0))], "gelu_scaled")
    one_plus = g.node("Add", [g.node("Erf", [scaled], "gelu_erf"), g.constant("one", 1.0)], "gelu_1p")
    half_x = g.node("Mul", [x, g.constant("half", 0.5)], "gelu_half_x")
    return g.node("Mul", [half_x, one_plus], "gelu")


@functools.cache
def _erfc_chebyshev(degree=24):
    """Chebyshev coefficients of log(erfcx(z) / t) in u = 2t - 1, t = 2 / (2 + z), z >= 0.

    erfc(z) = t exp(-z^2 + that), as in Numerical Recipes' erfccheb; computed
    here from scipy's erfcx rather than copied.  Degree 24 gives GELU to about
    1e-13 relative over the whole line (checked against mpmath).
    """
    from scipy.special import erfcx

    def f(u):
        t = (u + 1.0) / 2.0
        return np.log(erfcx(2.0 / t - 2.0) / t)

    return np.polynomial.chebyshev.chebinterpolate(f, degree)


def _gelu_float64(g, x):
    """0.5 x erfc(-x / sqrt 2), with erfc by the Chebyshev form above (Clenshaw's recurrence)."""
    s = g.node("Div", [x, g.constant("minus_sqrt2", -math.sqrt(2.0))], "gelu_s")
    z = g.node("Abs", [s], "gelu_z")
    t = g.node(
        "Div", [g.constant("two", 2.0), g.node("Add", [z, g.constant("two", 2.0)], "gelu_2z")], "gelu_t"
    )
    u = g.node(
        "Sub", [g.node("Mul", [t, g.constant("two", 2.0)], "gelu_2t"), g.constant("one", 1.0)], "gelu_u"
    )
    two_u = g.node("Mul", [u, g.constant("two", 2.0)], "gelu_2u")
    coefficients = _erfc_chebyshev()
    d, dd = None, None
    for c in coefficients[:0:-1]:  # d_j = 2u d_{j+1} - d_{j+2} + c_j
        step = g.constant("cheb", c)
        if d is not None:
            step = g.node("Add", [g.node("Mul", [two_u, d], "cheb_2ud"), step], "cheb_sum")
        if dd is not None:
            step = g.node("Sub", [step, dd], "cheb_d")
        d, dd = step, d
    f = g.node("Sub", [g.node("Add", [g.node("Mul", [u, d], "cheb_ud"), g.constant("cheb", coefficients[0])],
                                  "cheb_f0"), dd], "cheb_f")  # fmt: skip
    exponent = g.node("Sub", [f, g.node("Mul", [z, z], "gelu_z2")], "gelu_exponent")
    tail = g.node("Mul", [t, g.node("Exp", [exponent], "gelu_exp")], "gelu_erfc_abs")
    non_negative = g.node("GreaterOrEqual", [s, g.constant("zero", 0.0)], "gelu_s_nonneg")
    erfc = g.node(
        "Where", [non_negative, tail, g.node("Sub", [g.constant("two", 2.0), tail], "gelu_2m")], "gelu_erfc"
    )
    return g.node("Mul", [g.node("Mul", [x, g.constant("half", 0.5)], "gelu_half_x"), erfc], "gelu")


ACTIVATIONS = {
    "identity": lambda g, x: x,
    "relu": lambda g, x: g.node("Relu", [x], "relu"),
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "gelu": _gelu,
    "sigmoid": lambda g, x: g.node("Sigmoid", [x], "sigmoid"),
    "tanh": lambda g, x: g.node("Tanh", [x], "tanh"),
    "softplus": _softplus,
    "silu": lambda g, x: g.node("Mul", [x, g.node("Sigmoid", [x], "silu_gate")], "silu"),
}


def _layers(g, layers, prefix, x, params, buffers):
    """Add ``layers`` (named ``prefix`` + index, as in ``net.parameters()``) after tensor ``x``."""
    for index, layer in enumerate(layers):
        name = f"{prefix}{index}"
        kind = layer.kind
        if kind == "dense":
            inputs = [x, g.constant(f"{name}.weight", params[f"{name}.weight"])]
            if layer.bias:
                inputs.append(g.constant(f"{name}.bias", params[f"{name}.bias"]))
            x = g.node("Gemm", inputs, f"{name}.gemm")
        elif kind in ACTIVATIONS:
            x = ACTIVATIONS[kind](g, x)
        elif kind == "dropout":
            continue
        elif kind == "layer_norm":
            if g.opset < 17:
                raise ValueError(f"LayerNorm needs opset 17 or later (LayerNormalization), not {g.opset}")
            affine = [g.constant(f"{name}.{key}", params[f"{name}.{key}"]) for key in ("weight", "bias")]
            x = g.node("LayerNormalization", [x, *affine], f"{name}.layer_norm", axis=-1, epsilon=layer.eps)
        elif kind == "batch_norm":
            stats = [g.constant(f"{name}.{key}", source[f"{name}.{key}"])
                     for key, source in [("weight", params), ("bias", params), ("running_mean", buffers),
                                         ("running_var", buffers)]]  # fmt: skip
            x = g.node("BatchNormalization", [x, *stats], f"{name}.batch_norm", epsilon=layer.eps)
        elif kind == "residual":
            inner = _layers(g, layer.layers, f"{name}.", x, params, buffers)
            x = g.node("Add", [x, inner], f"{name}.add")
        else:
            raise ValueError(f"no ONNX form for the layer kind {kind!r}")
    return x


def add_network(g, net, x):
    """Add ``net``'s forward pass and output function after tensor ``x``; returns the output tensor."""
    out = _layers(g, net.plan.layers, "", x, dict(net.parameters()), dict(net.buffers()))
    output = OUTPUTS_OF_LOSS.get(net.loss, "identity")
    if output == "softmax":
        out = g.node("Softmax", [out], "softmax", axis=-1)
    elif output == "sigmoid":
        out = g.node("Sigmoid", [out], "sigmoid")
    return out


def add_standardise(g, x, mean, scale):
    """``(x - mean) / scale``, the feature scaling ``fastbp train`` stores."""
    centred = g.node("Sub", [x, g.constant("feature_mean", mean)], "centred")
    return g.node("Div", [centred, g.constant("feature_scale", scale)], "standardised")


def add_imputation(g, x, steps):
    """The number-column steps of ``fastbp.preprocess``: a missing (NaN) cell becomes the training
    median, every column is standardised, and a 0/1 column follows for each column that had missing
    cells in training (after all the columns, as scikit-learn's ``add_indicator``)."""
    missing = g.node("IsNaN", [x], "missing")
    filled = g.node("Where", [missing, g.constant("median", [s.median for s in steps]), x], "imputed")
    centred = g.node("Sub", [filled, g.constant("feature_mean", [s.mean for s in steps])], "centred")
    scaled = g.node("Div", [centred, g.constant("feature_scale", [s.scale for s in steps])], "standardised")
    flagged = [k for k, s in enumerate(steps) if s.indicator]
    if not flagged:
        return scaled
    picked = g.node(
        "Gather", [missing, g.constant("flagged", flagged, dtype=np.int64)], "missing_flagged", axis=1
    )
    elem = g.onnx.helper.np_dtype_to_tensor_dtype(g.dtype)
    indicators = g.node("Cast", [picked], "indicators", to=elem)
    return g.node("Concat", [scaled, indicators], "features", axis=1)


def add_one_hot(g, step, text):
    """A text column of ``fastbp.preprocess``, the string input ``text`` (N, 1), one-hot over its
    categories with the "other" slot last (an unseen value lands there); "" is a missing cell.
    ``LabelEncoder`` (ai.onnx.ml) maps the strings to slots, ``OneHot`` spreads them."""
    g.domains["ai.onnx.ml"] = 2
    other = len(step.categories)
    slots = g.node("LabelEncoder", [text], f"{step.name}_slot", domain="ai.onnx.ml",
                   keys_strings=list(step.categories), values_int64s=list(range(other)),
                   default_int64=other)  # fmt: skip
    flat = g.node("Squeeze", [slots, g.constant("axis1", [1], dtype=np.int64)], f"{step.name}_slots")
    depth = g.constant(f"{step.name}_depth", [other + 1], dtype=np.int64)
    return g.node("OneHot", [flat, depth, g.constant("off_on", [0.0, 1.0])], f"{step.name}_one_hot", axis=-1)


def add_columns(g, steps):
    """The inputs and steps of ``fastbp.preprocess``: ``"X"`` (N, number columns) in the graph's dtype,
    NaN for a missing cell, then one string input per text column; returns the feature tensor."""
    numbers = [s for s in steps if s.kind == "number"]
    texts = [s for s in steps if s.kind == "text"]
    # every input first, so no tensor made afterwards can take a column's name
    x = g.input("X", len(numbers)) if numbers else None
    inputs = [g.input(s.name, 1, elem=g.onnx.TensorProto.STRING) for s in texts]
    blocks = [add_imputation(g, x, numbers)] if numbers else []
    blocks += [add_one_hot(g, s, text) for s, text in zip(texts, inputs)]
    return blocks[0] if len(blocks) == 1 else g.node("Concat", blocks, "features", axis=1)


def add_labels(g, probabilities, classes):
    """The label of each row: the class with the largest probability, as ``classes`` (numbers or text)."""
    index = g.node("ArgMax", [probabilities], "class_index", axis=1, keepdims=0)
    values, elem = class_tensor(classes)
    table = g.name("classes")
    g.initializers.append(g.onnx.helper.make_tensor(table, elem, [len(values)], values))
    return g.node("Gather", [table, index], "label_values", axis=0), elem


def class_tensor(classes):
    """``(values, ONNX element type)`` of a list of class labels: integers, floats, booleans or text."""
    TensorProto = _onnx().TensorProto
    array = np.asarray(classes)
    if array.dtype.kind in "iu":
        return [int(c) for c in array], TensorProto.INT64
    if array.dtype.kind == "b":
        return [bool(c) for c in array], TensorProto.BOOL
    if array.dtype.kind == "f":
        return [float(c) for c in array], TensorProto.DOUBLE
    return [str(c).encode("utf-8") for c in array], TensorProto.STRING


def network_model(net, opset=None):
    """``net`` (a ``Sequential`` or ``MLP``) as a checked ``onnx.ModelProto``.

    The input is ``"X"`` (N, n_in); the output is ``"probabilities"`` for
    the cross-entropy losses, else ``"predictions"`` (N, n_out), both in
    the network's dtype.
    """
    g = Graph(net.dtype, opset)
    x = g.input("X", net.plan.n_in)
    out = add_network(g, net, x)
    name = "probabilities" if net.loss in OUTPUTS_OF_LOSS else "predictions"
    g.output(g.rename(out, name), [net.plan.n_out])
    return g.model("fastbp_network", doc=repr(net))


def save(model, path):
    """Write an ``onnx.ModelProto`` to ``path`` atomically (a failed write leaves any old file whole)."""
    io.write_atomically(path, [model.SerializeToString()])


__all__ = [
    "Graph",
    "network_model",
    "add_network",
    "add_standardise",
    "add_imputation",
    "add_one_hot",
    "add_columns",
    "add_labels",
    "save",
]
