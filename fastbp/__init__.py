"""fastbp: multilayer perceptrons trained by backpropagation in compiled code on the CPU."""

from . import schedules
from .gradcheck import gradcheck
from .io import ModelFileError, load
from .model import MLP, History, TrainingDiverged
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from .threads import get_num_threads, set_num_threads

__version__ = "0.1.0"

_ESTIMATORS = ("MLPClassifier", "MLPRegressor")


def __getattr__(name):
    # the scikit-learn estimators load scikit-learn, an optional extra: only when asked for
    if name in _ESTIMATORS:
        from . import estimators

        return getattr(estimators, name)
    raise AttributeError(f"module 'fastbp' has no attribute {name!r}")


__all__ = [
    "MLP",
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
    "__version__",
]
