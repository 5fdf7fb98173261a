"""Checkpoints of a running ``fit``: the network, the optimizer and the training progress.

A checkpoint is an ordinary fastbp file (``fastbp.io``): ``fastbp.load`` reads
it as a network.  Its ``extra`` header field records where the fit stands
(epochs done, the shuffling seed, the schedule's and early stopping's state,
the history so far) and its arrays add the optimizer state and the best
weights of early stopping.  ``fit(resume=path)`` continues from there and
reaches the same weights, bit for bit, as a fit that was never interrupted.
"""

import dataclasses
import math

import numpy as np

from . import io
from .history import History
from .optimizers import OPTIMIZERS, Optimizer

_OPTIMIZER_CLASSES = {cls.__name__: cls for cls in OPTIMIZERS.values()}


@dataclasses.dataclass
class Progress:
    """Where a fit stands after ``epoch`` epochs; enough to continue it exactly."""

    epoch: int
    fit_seed: int
    first_epoch: int
    batch_size: int
    shuffle: bool
    best_loss: float = math.inf
    bad_epochs: int = 0
    stopped: bool = False  # early stopping or a callback ended the fit
    best_params: np.ndarray | None = None


def save(path, net, optimizer, schedule, progress, history):
    """Write a checkpoint of ``net`` mid-fit to ``path``, atomically."""
    fields = {k: v for k, v in dataclasses.asdict(progress).items() if k != "best_params"}
    extra = {
        "checkpoint": {
            **fields,
            "optimizer": {
                "class": type(optimizer).__name__,
                "params": optimizer._params(),
                "step_count": optimizer.step_count,
            },
            "schedule": {"class": type(schedule).__name__, "state": schedule.state()},
            "history": dataclasses.asdict(history),
        }
    }
    arrays = {**io.network_arrays(net), "optimizer_state": optimizer.state}
    if progress.best_params is not None:
        arrays["best_params"] = progress.best_params
    io.write(path, net, extra, arrays)


def restore(path, net, optimizer, schedule, batch_size, shuffle):
    """Load a checkpoint into ``net``, ``optimizer`` and ``schedule``.

    Returns ``(optimizer, progress, history)``.

    ``optimizer`` may be None (rebuilt from the file) or an optimizer of the
    same class, whose state is replaced.  The network's configuration, the
    batch size and the shuffling must match the checkpointed fit, since
    otherwise the continuation would not be the same run.  Everything is
    checked before anything is changed: a refused checkpoint leaves the
    network, the optimizer and the schedule as they were.
    """
    stored = io.read(path)
    state = stored.header["extra"].get("checkpoint")
    if state is None:
        raise io.ModelFileError(f"{path}: a model file, not a checkpoint of fit")
    try:
        stored_config = stored.header["config"]
        if isinstance(stored_config, dict) and "class" not in stored_config:  # format 2: MLPs, no norms
            stored_config = {"class": "MLP", "norm": None, "residual": False, **stored_config}
        config_matches = stored_config == net._config()
        batch_shuffle = (state["batch_size"], state["shuffle"])
        spec = state["optimizer"]
        cls = _OPTIMIZER_CLASSES.get(spec["class"])
        schedule_class = state["schedule"]["class"]
    except (KeyError, TypeError) as exc:
        raise io.ModelFileError(f"{path}: malformed checkpoint ({exc!r})") from None
    if not config_matches:
        raise ValueError(f"{path}: the checkpoint is of a different network: {stored.header['config']}")
    if batch_shuffle != (batch_size, shuffle):
        raise ValueError(
            f"{path}: the checkpointed fit used batch_size={batch_shuffle[0]}, "
            f"shuffle={batch_shuffle[1]}; resume with the same"
        )
    if cls is None:
        raise io.ModelFileError(f"{path}: unknown optimizer {spec['class']!r}")
    if isinstance(optimizer, str) and OPTIMIZERS.get(optimizer.lower()) is cls:
        optimizer = None  # the same name as the checkpointed fit: its optimizer, hyperparameters and all
    if optimizer is not None and (not isinstance(optimizer, Optimizer) or type(optimizer) is not cls):
        given = optimizer if isinstance(optimizer, str) else type(optimizer).__name__
        raise ValueError(f"{path}: the checkpointed fit used {spec['class']}, not {given}")
    if type(schedule).__name__ != schedule_class:
        raise ValueError(f"{path}: the checkpointed fit used the {schedule_class} schedule")
    expected = {
        "params": (net.n_params,),
        "optimizer_state": (cls.n_state, net.n_params),
        "best_params": (net.n_params + net.running_stats.size,),
        "buffers": (net.running_stats.size,),
    }
    for name, shape in expected.items():
        array = stored.arrays.get(name)
        if array is None and name == "buffers" and not net.running_stats.size:
            continue
        if array is None and name != "best_params":
            raise io.ModelFileError(f"{path}: the checkpoint has no {name} array")
        if array is not None and array.shape != shape:
            raise io.ModelFileError(f"{path}: {name} has shape {array.shape}, the fit needs {shape}")
    history_fields = {f.name for f in dataclasses.fields(History)}
    try:
        missing = sorted({f.name for f in dataclasses.fields(Progress)} - {"best_params"} - state.keys())
        if missing:
            raise KeyError(missing[0])
        if not isinstance(state["history"], dict) or not state["history"].keys() <= history_fields:
            raise TypeError(f"history must be an object with the fields {sorted(history_fields)}")
        schedule_state = state["schedule"]["state"]
        if not isinstance(schedule_state, dict) or type(spec["step_count"]) is not int:
            raise TypeError("the schedule state must be an object and step_count an integer")
        _check_fields(state, state["history"], schedule_state, schedule)
        if optimizer is None:
            optimizer = cls(**spec["params"])
    except (KeyError, TypeError, ValueError) as exc:
        raise io.ModelFileError(f"{path}: malformed checkpoint ({exc!r})") from None
    # every check passed: now change the caller's objects
    optimizer.state = np.array(stored.arrays["optimizer_state"], dtype=net.dtype)
    optimizer.step_count = spec["step_count"]
    schedule.load_state(schedule_state)
    net.params[:] = stored.arrays["params"]
    if net.running_stats.size:
        net.running_stats[:] = stored.arrays["buffers"]
    net.epochs_trained = stored.header.get("epochs_trained", 0)  # checked by io.read
    best = stored.arrays.get("best_params")
    fields = {f.name for f in dataclasses.fields(Progress)} - {"best_params"}
    progress = Progress(**{k: state[k] for k in fields}, best_params=None if best is None else best.copy())
    return optimizer, progress, History(**state["history"])


def _is_number(value):
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_fields(state, history, schedule_state, schedule):
    """Raise TypeError unless the checkpoint's progress, history and schedule fields have their types.

    A file from elsewhere is untrusted: a wrong type would otherwise surface
    mid-fit, after the weights and the optimizer were replaced, and the
    schedule takes only the private fields it has itself.
    """
    for name in ("epoch", "fit_seed", "first_epoch", "bad_epochs"):
        if type(state[name]) is not int or state[name] < 0:
            raise TypeError(f"{name} must be a non-negative integer")
    if type(state["stopped"]) is not bool or not _is_number(state["best_loss"]):
        raise TypeError("stopped must be a boolean and best_loss a number")
    for name, values in history.items():
        if name == "best_epoch":
            ok = values is None or (type(values) is int and values >= 0)
        elif name == "stopped_early":
            ok = type(values) is bool
        else:
            ok = isinstance(values, list) and all(_is_number(v) for v in values)
        if not ok:
            raise TypeError(f"history field {name!r} has the wrong type")
    own = schedule.state()
    if schedule_state.keys() != own.keys() or not all(_is_number(v) for v in schedule_state.values()):
        raise TypeError(f"the schedule state must hold the numbers {sorted(own)}")
