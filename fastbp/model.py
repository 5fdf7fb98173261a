"""``MLP``, the short form of a ``Sequential``, and reading networks back from files."""

import numbers

import numpy as np

from . import io, safetensors_io
from . import layers as L
from .kernels import activations
from .plan import MAX_OPS, Plan
from .sequential import (  # noqa: F401  (fastbp.model.DTYPES etc., as before)
    DTYPES,
    OUTPUTS_OF_LOSS,
    PREDICT_CHUNK,
    Sequential,
    as_seed,
    check_common,
)
from .state_dict import load_state_dict
from .training import TrainingDiverged  # noqa: F401  (fastbp.model.TrainingDiverged, as before)

NORMS = {None: None, "layer": L.LayerNorm, "batch": L.BatchNorm}


def _per_hidden_layer(name, value, n_hidden, check):
    if not isinstance(value, (list, tuple)):
        check(value)  # checked even when there is no hidden layer to use it
        value = [value] * n_hidden
    values = list(value)
    if len(values) != n_hidden:
        raise ValueError(f"{name} has {len(values)} entries for {n_hidden} hidden layers")
    return [check(v) for v in values]


def _check_activation(name):
    if name not in activations.CODES:
        raise ValueError(f"unknown activation {name!r}; choose one of {sorted(activations.CODES)}")
    return name


def _check_rate(rate):
    if isinstance(rate, bool) or not isinstance(rate, numbers.Real) or not 0 <= rate < 1:
        raise ValueError(f"dropout rates must lie in [0, 1), got {rate!r}")
    return float(rate)


def mlp_layers(sizes, activation, dropout, output, loss, norm=None, residual=False):
    """The layer specs of ``MLP(sizes, ...)``: per hidden layer Dense, norm, activation, dropout.

    With ``residual``, a hidden block whose width equals its input's becomes
    ``Residual(Dense, norm, activation)`` (dropout after it).  The output
    layer is a Dense, followed by the output activation for the regression
    losses (none when it is the identity).
    """
    layers = []
    for index, (width, act, rate) in enumerate(zip(sizes[1:-1], activation, dropout)):
        block = [L.Dense(width)]
        if norm is not None:
            block.append(NORMS[norm]())
        block.append(L.ACTIVATION_LAYERS[act]())
        if residual and sizes[index] == width:
            block = [L.Residual(*block)]
        layers.extend(block)
        if rate > 0:
            layers.append(L.Dropout(rate))
    layers.append(L.Dense(sizes[-1]))
    if loss not in OUTPUTS_OF_LOSS and output != "identity":
        layers.append(L.ACTIVATION_LAYERS[output]())
    return layers


class MLP(Sequential):
    """A multilayer perceptron: a ``Sequential`` of dense layers, activations and optional extras.

    Parameters
    ----------
    sizes : sequence of int
        ``[n_in, h1, ..., n_out]``: input width, hidden widths, output width.
    activation : str or list of str, default "relu"
        Hidden-layer activation, one name for all or one per hidden layer:
        identity, relu, leaky_relu, elu, gelu, sigmoid, tanh, softplus, silu.
    loss : str, default "mse"
        mse, squared_error (half the mse), mae, huber, cross_entropy or
        binary_cross_entropy.
    output : str, optional
        Output function.  cross_entropy implies "softmax" and
        binary_cross_entropy "sigmoid" (the loss works on the logits).  For
        the regression losses the default is "identity"; any activation name
        may be given and is then part of the network, in training and predict.
    dtype : {"float32", "float64"}, default "float32"
    seed : int or None, default 0
        Seeds the initial weights and, unless ``fit`` gets its own seed, the
        shuffling and dropout of training.
    alpha : float, default 0
        L2 penalty ``0.5 * alpha * sum(W**2) / rows`` added to each batch's
        loss (weights only, not biases; scikit-learn's meaning).
    dropout : float or list of float, default 0
        Inverted-dropout rate after each hidden layer (off in ``predict``).
    norm : {None, "layer", "batch"}, default None
        A LayerNorm or BatchNorm after each hidden dense layer, before its activation.
    residual : bool, default False
        Wrap each hidden block (dense, norm, activation) whose width equals its
        input's in a ``Residual``: x + f(x).

    Attributes
    ----------
    params : ndarray of shape (n_params,)
        Every weight and bias, C-contiguous.
    coefs_ : list of ndarray
        Views into ``params``; ``coefs_[l]`` has shape ``(sizes[l], sizes[l+1])``.
    intercepts_ : list of ndarray
        Views into ``params``; ``intercepts_[l]`` has shape ``(sizes[l+1],)``.

    Examples
    --------
    >>> import numpy as np, fastbp
    >>> X = np.random.default_rng(0).normal(size=(256, 4)).astype(np.float32)
    >>> y = (X[:, 0] > 0).astype(np.int64)
    >>> net = fastbp.MLP([4, 16, 2], loss="cross_entropy", seed=0)
    >>> hist = net.fit(X, y, epochs=20, batch_size=32, optimizer=fastbp.Adam(lr=1e-2))
    >>> net.predict(X).shape
    (256, 2)
    """

    def __init__(
        self,
        sizes,
        activation="relu",
        loss="mse",
        output=None,
        dtype="float32",
        seed=0,
        alpha=0.0,
        dropout=0.0,
        norm=None,
        residual=False,
    ):
        output_act = self._checked(sizes, activation, loss, output, dtype, alpha, dropout, norm, residual)
        self._setup(Plan(self.sizes[0], self._layers()), loss, dtype, seed, alpha, output_act=output_act)

    def _checked(self, sizes, activation, loss, output, dtype, alpha, dropout, norm, residual):
        """Check the arguments and set the MLP's own attributes; returns the output activation."""
        sizes = list(sizes)
        if len(sizes) < 2 or any(
            isinstance(s, bool) or not isinstance(s, numbers.Integral) or s < 1 for s in sizes
        ):
            raise ValueError(f"sizes must be at least two positive integers, got {sizes!r}")
        check_common(loss, dtype, alpha)
        n_hidden = len(sizes) - 2
        default_output = OUTPUTS_OF_LOSS.get(loss, "identity")
        output = default_output if output is None else output
        if loss in OUTPUTS_OF_LOSS and output != default_output:
            raise ValueError(f"loss {loss!r} works on logits and implies output={default_output!r}")
        if loss not in OUTPUTS_OF_LOSS:
            _check_activation(output)
        if norm not in NORMS:
            raise ValueError(f"norm must be None, 'layer' or 'batch', got {norm!r}")
        if not isinstance(residual, bool):
            raise ValueError(f"residual must be True or False, got {residual!r}")
        self._sizes = tuple(int(s) for s in sizes)
        self.activation = _per_hidden_layer("activation", activation, n_hidden, _check_activation)
        self.dropout = _per_hidden_layer("dropout", dropout, n_hidden, _check_rate)
        self.norm, self.residual = norm, residual
        self._mlp_output, self._mlp_loss = output, loss
        return output if loss not in OUTPUTS_OF_LOSS else "identity"

    def _layers(self):
        return mlp_layers(
            self._sizes,
            self.activation,
            self.dropout,
            self._mlp_output,
            self._mlp_loss,
            self.norm,
            self.residual,
        )

    def _setup(self, plan, loss, dtype, seed, alpha, output_act="identity"):
        super()._setup(plan, loss, dtype, seed, alpha, output_act)
        self.output = self._mlp_output

    @property
    def sizes(self):
        return self._sizes

    def _config(self):
        return {
            "class": "MLP",
            "sizes": list(self.sizes),
            "activation": list(self.activation),
            "loss": self.loss,
            "output": self.output,
            "dtype": self.dtype.name,
            "seed": self.seed,
            "alpha": self.alpha,
            "dropout": list(self.dropout),
            "norm": self.norm,
            "residual": self.residual,
        }

    def __repr__(self):
        extras = (f", norm={self.norm!r}" if self.norm else "") + (", residual=True" if self.residual else "")
        return (
            f"MLP({list(self.sizes)}, activation={self.activation}, loss={self.loss!r}, "
            f"output={self.output!r}, dtype={self.dtype.name!r}{extras})"
        )


# A hostile file must not make fastbp allocate beyond what its arrays justify:
# a plan's per-row work block may hold at most this many values per value of
# the file's arrays (a 784-256-128-10 network needs 0.007; 64 allows deep
# stacks of parameter-free layers).
MAX_ROW_WIDTH_PER_VALUE = 64


def _count_specs(items, limit=MAX_OPS):
    """How many layer specs (nested residual blocks included) a list holds, counted up to ``limit + 1``."""
    count, stack = 0, [items]
    while stack and count <= limit:
        for item in stack.pop():
            count += 1
            inner = item.get("layers") if isinstance(item, dict) else None
            if isinstance(inner, list):
                stack.append(inner)
            if count > limit:
                break
    return count


def _plan_of(config):
    """(class, constructor arguments, plan) of a file's ``config``, without allocating the weights."""
    config = dict(config)
    kind = config.pop("class", "MLP")  # format 2 files hold MLPs and no class
    # refuse a header that would build more specs than a plan may hold, before building any
    for key in ("sizes", "layers"):
        if isinstance(config.get(key), list) and _count_specs(config[key]) > MAX_OPS:
            raise ValueError(f"a network has at most {MAX_OPS} ops")
    if kind == "MLP":
        probe = object.__new__(MLP)
        known = {
            "sizes",
            "activation",
            "loss",
            "output",
            "dtype",
            "seed",
            "alpha",
            "dropout",
            "norm",
            "residual",
        }
        if not config.keys() <= known or "sizes" not in config:
            raise ValueError(f"an MLP config holds {sorted(known)}, not {sorted(config.keys() - known)}")
        as_seed(config.get("seed", 0))
        args = {k: v for k, v in config.items() if k not in ("sizes", "seed")}
        probe._checked(config["sizes"], **{"activation": "relu", "output": None, "dropout": 0.0, "norm": None,
                                           "residual": False, "loss": "mse", "dtype": "float32", "alpha": 0.0,
                                           **args})  # fmt: skip
        return MLP, config, Plan(probe.sizes[0], probe._layers())
    if kind == "Sequential":
        known = {"n_in", "layers", "loss", "dtype", "seed", "alpha"}
        if not config.keys() <= known or not isinstance(config.get("layers"), list):
            raise ValueError(
                f"a Sequential config holds {sorted(known)} with a list of layers, "
                f"not {sorted(config.keys() - known)}"
            )
        as_seed(config.get("seed", 0))
        layers = [L.from_config(c) for c in config["layers"]]
        check_common(config.get("loss", "mse"), config.get("dtype", "float32"), config.get("alpha", 0.0))
        config["layers"] = layers
        return Sequential, config, Plan(config.get("n_in"), layers)
    raise ValueError(f"unknown network class {kind!r}")


def network_from(model_file, path="model file"):
    """The network that a ``fastbp.io.ModelFile`` describes, with its parameters and running statistics.

    The header is checked like user input before anything is allocated: an
    unknown layer kind or class, widths that do not match the arrays the file
    holds, or a plan whose work buffers its arrays do not justify, raise
    ``ModelFileError``.
    """
    header, arrays = model_file.header, model_file.arrays
    try:
        cls, config, plan = _plan_of(header["config"])
    except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as exc:
        raise io.ModelFileError(f"{path}: header describes an invalid network ({exc})"[:500]) from None
    stored_plan = header.get("plan")
    if stored_plan is not None and stored_plan != {
        "n_in": plan.n_in,
        "layers": [layer.config() for layer in plan.layers],
    }:
        raise io.ModelFileError(f"{path}: the stored plan is not the network its config describes")
    dtype = str(config.get("dtype", "float32"))
    params = arrays.get("params")
    buffers = arrays.get("buffers", np.empty(0, dtype=dtype))
    for name, array, count in (
        ("parameters", params, plan.n_params),
        ("running statistics", buffers, plan.n_buffers),
    ):
        if array is None or array.dtype.name != dtype or array.shape != (count,):
            found = None if array is None else f"{array.dtype.name} {array.shape}"
            raise io.ModelFileError(
                f"{path}: the network needs {count} {dtype} {name}, the file holds {found}"
            )
    values = plan.n_params + plan.n_buffers + plan.n_in
    if plan.row_width > MAX_ROW_WIDTH_PER_VALUE * values:
        raise io.ModelFileError(
            f"{path}: the network's layers need {plan.row_width} work values per row, more than its "
            f"{values} stored values justify"
        )
    net = cls(**config)
    net.params[:] = params
    net.running_stats[:] = buffers
    net.epochs_trained = header.get("epochs_trained", 0)
    return net


def load(path):
    """Read a network written by ``save`` (or a checkpoint of ``fit``): an ``MLP`` or a ``Sequential``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    fastbp.MLP or fastbp.Sequential

    Raises
    ------
    ModelFileError
        See ``fastbp.io.read``; also a header whose network does not match its arrays.
    """
    return network_from(io.read(path), path)


def load_safetensors(path):
    """Read a network written by ``Sequential.save_safetensors``: an ``MLP`` or a ``Sequential``.

    The plan comes from the file's metadata (checked as in ``load``), the
    weights from its tensors, named and laid out as PyTorch's ``state_dict``
    (see ``fastbp.state_dict``).  Every tensor's name, shape and dtype is
    checked against the plan before any is read.  Needs the safetensors
    package, not torch.

    Raises
    ------
    ModelFileError
        A file that is not safetensors, has no fastbp metadata, or whose
        tensors do not fit the network the metadata describes.
    """
    plans = {}

    def wanted(header):
        try:
            plans["plan"] = _plan_of(header["config"])
        except (TypeError, ValueError, KeyError, OverflowError, RecursionError) as exc:
            raise io.ModelFileError(
                f"{path}: the metadata describes no valid network ({exc})"[:500]
            ) from None
        plan = plans["plan"][2]
        return {name: (tuple(reversed(shape)) if len(shape) == 2 else tuple(shape))
                for name, _, shape in [*plan.parameter_names, *plan.buffer_names]}  # fmt: skip

    header, tensors = safetensors_io.read(path, wanted)
    _, config, plan = plans["plan"]
    dtype = str(config.get("dtype", "float32"))
    # the network, checked by network_from like any model file's (its arrays now known to fit), then filled
    described = {key: header.get(key) for key in ("config", "plan")}
    empty = io.ModelFile(
        {**described, "epochs_trained": header.get("epochs_trained", 0)},
        {"params": np.zeros(plan.n_params, dtype=dtype), "buffers": np.zeros(plan.n_buffers, dtype=dtype)},
    )
    net = network_from(empty, path)
    try:
        return load_state_dict(net, tensors, str(path))
    except ValueError as exc:
        raise io.ModelFileError(str(exc)) from None
