"""fastbp: multilayer perceptrons trained by backpropagation in compiled code on the CPU."""

from . import layers, schedules
from ._version import __version__
from .gradcheck import gradcheck
from .history import History
from .io import ModelFileError
from .many import fit_many
from .model import MLP, TrainingDiverged, load, load_safetensors
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .sequential import Sequential
from .threads import get_num_threads, set_num_threads
from .torch_import import from_torch

_ESTIMATORS = ("MLPClassifier", "MLPRegressor")
_ENSEMBLES = ("EnsembleClassifier", "EnsembleRegressor")


def __getattr__(name):
    # the scikit-learn estimators load scikit-learn, an optional extra: only when asked for
    if name not in _ESTIMATORS + _ENSEMBLES:
        raise AttributeError(f"module 'fastbp' has no attribute {name!r}")
    try:
        if name in _ESTIMATORS:
            from . import estimators as module
        else:
            from . import ensemble as module
    except ModuleNotFoundError as exc:
        if (exc.name or "").split(".")[0] != "sklearn":
            raise
        raise ImportError(f'fastbp.{name} needs scikit-learn: pip install "fastbp[sklearn]"') from exc
    return getattr(module, name)


__all__ = [
    "MLP",
    "Sequential",
    "fit_many",
    "layers",
    "History",
    "TrainingDiverged",
    "load",
    "load_safetensors",
    "from_torch",
    "ModelFileError",
    "gradcheck",
    "Optimizer",
    "SGD",
    "Adam",
    "AdamW",
    "RMSprop",
    "Adagrad",
    "schedules",
    "set_num_threads",
    "get_num_threads",
    "MLPClassifier",
    "MLPRegressor",
    "EnsembleClassifier",
    "EnsembleRegressor",
    "__version__",
]
