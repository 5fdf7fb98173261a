"""Layer specs: what a ``fastbp.Sequential`` is made of.

A spec holds a layer's settings, not its weights.  ``fastbp.plan`` compiles
a list of specs into the op table that the kernels walk; each spec adds its
own ops there (``emit``).  Every kind follows PyTorch's semantics, so models
can move between the two.

>>> from fastbp import layers as L
>>> [L.Dense(64), L.BatchNorm(), L.ReLU(), L.Dropout(0.1),
...  L.Residual(L.Dense(64), L.LayerNorm(), L.GELU()), L.Dense(3)]  # doctest: +ELLIPSIS
[Dense(64), ...]

A new layer kind is a spec class here (registered in ``KINDS``), its
kernel module under ``fastbp/kernels/`` and its line in the dispatch of
``kernels/network.py``.
"""

import math
import numbers

from .kernels import table
from .kernels.activations import ACTIVATIONS, CODES


def _positive_int(layer, name, value):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < 1:
        raise ValueError(f"{layer}: {name} must be a positive integer, got {value!r}")
    return int(value)


def _number(layer, name, value, low, high=None, low_open=False):
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise ValueError(f"{layer}: {name} must be a number, got {value!r}")
    value = float(value)
    bad = not (value > low if low_open else value >= low) or (high is not None and not value < high)
    if bad or not math.isfinite(value):
        bounds = f"{'(' if low_open else '['}{low}, {high if high is not None else 'inf'})"
        raise ValueError(f"{layer}: {name} must lie in {bounds}, got {value!r}")
    return value


class Layer:
    """Base class of the layer specs."""

    kind = ""  # the name in model files and in KINDS

    def emit(self, plan, source, width):
        """Add this layer's ops to ``plan`` (a ``fastbp.plan.Builder``); returns (output block, width)."""
        raise NotImplementedError

    def config(self):
        """JSON-ready settings; ``from_config`` rebuilds the spec from them."""
        return {"kind": self.kind}

    def __repr__(self):
        args = ", ".join(f"{k}={v!r}" for k, v in self.config().items() if k != "kind")
        return f"{type(self).__name__}({args})"

    def __eq__(self, other):
        return type(self) is type(other) and self.config() == other.config()

    __hash__ = None


class Dense(Layer):
    """Fully connected: ``x @ W + b``, W of shape (n_in, n), as ``torch.nn.Linear(n_in, n)`` (W transposed).

    Parameters
    ----------
    n : int
        Output width.
    bias : bool, default True
    """

    kind = "dense"

    def __init__(self, n, bias=True):
        self.n = _positive_int("Dense", "n", n)
        if not isinstance(bias, bool):
            raise ValueError(f"Dense: bias must be True or False, got {bias!r}")
        self.bias = bias

    def emit(self, plan, source, width):
        return plan.dense(self, source, width, self.n, self.bias)

    def config(self):
        return {"kind": self.kind, "n": self.n, "bias": self.bias}

    def __repr__(self):
        return f"Dense({self.n}{'' if self.bias else ', bias=False'})"


class Activation(Layer):
    """An elementwise activation; one subclass per entry of ``kernels.activations.ACTIVATIONS``."""

    def emit(self, plan, source, width):
        return plan.elementwise(table.ACTIVATION, CODES[self.kind], source, width, self)

    def __repr__(self):
        return f"{type(self).__name__}()"


def _activation_class(name, class_name):
    doc = f"The {name} activation as a layer (see ``fastbp.kernels.activations``)."
    return type(class_name, (Activation,), {"kind": name, "__doc__": doc, "__module__": __name__})


ACTIVATION_LAYERS = {name: _activation_class(name, entry[1]) for name, entry in ACTIVATIONS.items()}
globals().update({cls.__name__: cls for cls in ACTIVATION_LAYERS.values()})


class Dropout(Layer):
    """Inverted dropout with rate ``p`` in training, the identity otherwise (``torch.nn.Dropout``)."""

    kind = "dropout"

    def __init__(self, p=0.5):
        self.p = _number("Dropout", "p", p, 0.0, 1.0)

    def emit(self, plan, source, width):
        return plan.elementwise(table.DROPOUT, plan.dropout_counter(), source, width, self, eps=self.p)

    def config(self):
        return {"kind": self.kind, "p": self.p}


class LayerNorm(Layer):
    """Normalise each row over its features, then scale and shift (``torch.nn.LayerNorm(width)``)."""

    kind = "layer_norm"

    def __init__(self, eps=1e-5):
        self.eps = _number("LayerNorm", "eps", eps, 0.0, low_open=True)

    def emit(self, plan, source, width):
        return plan.norm(table.LAYER_NORM, self, source, width)

    def config(self):
        return {"kind": self.kind, "eps": self.eps}


class BatchNorm(Layer):
    """Normalise each feature over the batch (``torch.nn.BatchNorm1d(width)``).

    Training uses the batch's mean and biased variance and updates the running
    mean and unbiased variance with ``momentum``; ``predict`` and ``evaluate``
    use the running ones.  A training batch needs at least two rows.
    """

    kind = "batch_norm"

    def __init__(self, momentum=0.1, eps=1e-5):
        self.momentum = _number("BatchNorm", "momentum", momentum, 0.0, 1.0)
        self.eps = _number("BatchNorm", "eps", eps, 0.0, low_open=True)

    def emit(self, plan, source, width):
        return plan.norm(table.BATCH_NORM, self, source, width, momentum=self.momentum)

    def config(self):
        return {"kind": self.kind, "momentum": self.momentum, "eps": self.eps}


class Residual(Layer):
    """``x + f(x)``, f being the given layers; f must keep the width."""

    kind = "residual"

    def __init__(self, *layers):
        if len(layers) == 1 and isinstance(layers[0], (list, tuple)):
            layers = tuple(layers[0])
        if not layers:
            raise ValueError("Residual: give at least one layer")
        for layer in layers:
            if not isinstance(layer, Layer):
                raise ValueError(f"Residual: {layer!r} is not a layer (see fastbp.layers)")
        self.layers = list(layers)

    def emit(self, plan, source, width):
        return plan.residual(self, source, width)

    def config(self):
        return {"kind": self.kind, "layers": [layer.config() for layer in self.layers]}

    def __repr__(self):
        return f"Residual({', '.join(map(repr, self.layers))})"


KINDS = {
    "dense": Dense,
    **ACTIVATION_LAYERS,
    "dropout": Dropout,
    "layer_norm": LayerNorm,
    "batch_norm": BatchNorm,
    "residual": Residual,
}


def from_config(config, depth=0):
    """The spec that ``config`` describes; ValueError for anything else (files are untrusted)."""
    if depth > 32:
        raise ValueError("residual blocks nested more than 32 deep")
    if not isinstance(config, dict) or not isinstance(config.get("kind"), str):
        raise ValueError(f"a layer must be an object with a 'kind', got {config!r}"[:200])
    cls = KINDS.get(config["kind"])
    if cls is None:
        raise ValueError(f"unknown layer kind {config['kind']!r}; known: {sorted(KINDS)}"[:300])
    args = {k: v for k, v in config.items() if k != "kind"}
    if cls is Residual:
        inner = args.pop("layers", None)
        if args or not isinstance(inner, list):
            raise ValueError("a residual layer holds exactly a list of 'layers'")
        return Residual(*[from_config(c, depth + 1) for c in inner])
    try:
        return cls(**args)
    except TypeError as exc:
        raise ValueError(f"layer {config['kind']!r}: {exc}") from None
