"""fastbp: multilayer perceptrons trained by backpropagation in compiled code on the CPU."""

from .gradcheck import gradcheck
from .io import ModelFileError, load
from .model import MLP, History, TrainingDiverged
from .optimizers import SGD, Adagrad, Adam, AdamW, Optimizer, RMSprop
from . import schedules

__version__ = "0.1.0"

__all__ = [
    "MLP", "History", "TrainingDiverged", "load", "ModelFileError", "gradcheck",
    "Optimizer", "SGD", "Adam", "AdamW", "RMSprop", "Adagrad", "schedules", "__version__",
]
