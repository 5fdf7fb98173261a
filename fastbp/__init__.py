"""fastbp: multilayer perceptrons trained by backpropagation in compiled code on the CPU."""

from . import layers, schedules
from ._version import __version__
from .gradcheck import gradcheck
from .history import History
from .io import ModelFileError
from .many import fit_many
from .model import MLP, TrainingDiverged, load
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .sequential import Sequential
from .threads import get_num_threads, set_num_threads

_ESTIMATORS = ("MLPClassifier", "MLPRegressor")
_ENSEMBLES = ("EnsembleClassifier", "EnsembleRegressor")


def __getattr__(name):
    # the scikit-learn estimators load scikit-learn, an optional extra: only when asked for
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    if name in _ENSEMBLES:
        from . import ensemble

        return getattr(ensemble, name)
    raise AttributeError(f"module 'fastbp' has no attribute {name!r}")


__all__ = [
    "MLP",
    "Sequential",
    "fit_many",
    "layers",
    "History",
    "TrainingDiverged",
    "load",
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
