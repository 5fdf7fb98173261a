"""Optimizers with ``torch.optim``'s update rules, defaults and state.

An optimizer object holds its hyperparameters and, once used by ``fit``, its
state (momentum buffers, moment estimates, the step count) in arrays with the
parameters' layout.  Passing the same object to a later ``fit`` continues from
that state, as reusing a ``torch.optim`` optimizer does; a new object starts
afresh.  The update itself is the kernel module each class names
(``fastbp.kernels.optimizers``).  A new optimizer is one class here, its
kernel module, and its entry in ``OPTIMIZERS``.
"""

import numpy as np

from .kernels import optimizers as kernels
from .kernels.optimizers import adagrad, adam, rmsprop, sgd


def _check_number(name, value, low=0.0, high=None, low_inclusive=True):
    if isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"{name} must be a number, got {value!r}")
    value = float(value)
    if not np.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value}")
    if value < low or (value == low and not low_inclusive):
        bound = ">=" if low_inclusive else ">"
        raise ValueError(f"{name} must be {bound} {low}, got {value}")
    if high is not None and value >= high:
        raise ValueError(f"{name} must be < {high}, got {value}")
    return value


class Optimizer:
    """Base class: hyperparameters, the kernel that uses them, and the state buffers.

    A subclass names its kernel module (``fastbp.kernels.optimizers``); the
    kernel's ``HYPER`` lists the attributes that ``hyper()`` passes to it.
    """

    kernel = None
    kind = -1  # the kernel's code, and its count of state rows: set from ``kernel`` below
    n_state = 0

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.kernel is not None:
            cls.kind = kernels.KINDS[cls.kernel.__name__.rsplit(".", 1)[1]][0]
            cls.n_state = cls.kernel.N_STATE

    def __init__(self, lr):
        self.lr = _check_number("lr", lr)
        self.state = None  # (n_state, P) array, created by the first fit
        self.step_count = 0

    def hyper(self):
        """The float64 hyperparameter vector the kernel reads: its ``HYPER`` names, in order."""
        return np.array([float(getattr(self, name)) for name in self.kernel.HYPER])

    def check(self, n_params, dtype):
        """Refuse hyperparameters the constructor would refuse, or state for another network; change nothing.

        The hyperparameters are plain attributes that a user may have changed
        since the optimizer was made, and the kernel trusts them.
        """
        type(self)(**self._params())  # the constructor's checks, on the current values
        fits = self.state is None or (
            self.state.shape == (self.n_state, n_params) and self.state.dtype == dtype
        )
        if not fits:
            raise ValueError(
                f"this {type(self).__name__} already holds state for {self.state.shape[1]} "
                f"{self.state.dtype} parameters; use a new optimizer for this network"
            )

    def bind(self, n_params, dtype):
        """Create the state for ``n_params`` parameters, or check the existing one fits (``check``)."""
        self.check(n_params, dtype)
        if self.state is None:
            self.state = np.zeros((self.n_state, n_params), dtype=dtype)
            self.step_count = 0

    def reset(self):
        """Forget the state: the next fit starts as a fresh optimizer."""
        self.state = None
        self.step_count = 0

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in self._params().items())
        return f"{type(self).__name__}({fields})"

    def _params(self):
        return {"lr": self.lr}


class SGD(Optimizer):
    """Stochastic gradient descent with optional (Nesterov) momentum, as ``torch.optim.SGD``.

    Parameters
    ----------
    lr : float
        Learning rate.
    momentum : float, default 0
    nesterov : bool, default False
        Needs ``momentum > 0``.
    weight_decay : float, default 0
        L2 coefficient added to the gradient.
    dampening : float, default 0
    """

    kernel = sgd

    def __init__(self, lr=1e-3, momentum=0.0, nesterov=False, weight_decay=0.0, dampening=0.0):
        super().__init__(lr)
        self.momentum = _check_number("momentum", momentum)
        self.nesterov = bool(nesterov)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.dampening = _check_number("dampening", dampening)
        if self.nesterov and (self.momentum <= 0 or self.dampening != 0):
            raise ValueError("Nesterov momentum needs momentum > 0 and dampening == 0")

    def _params(self):
        return {
            "lr": self.lr,
            "momentum": self.momentum,
            "nesterov": self.nesterov,
            "weight_decay": self.weight_decay,
            "dampening": self.dampening,
        }


class Adam(Optimizer):
    """Adam, as ``torch.optim.Adam`` (weight decay added to the gradient).

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 0
    """

    kernel = adam
    decoupled = False  # AdamW's weight decay

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0):
        super().__init__(lr)
        if len(betas) != 2:
            raise ValueError(f"betas must be a pair, got {betas!r}")
        self.betas = (
            _check_number("betas[0]", betas[0], high=1.0),
            _check_number("betas[1]", betas[1], high=1.0),
        )
        self.eps = _check_number("eps", eps)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    @property
    def beta1(self):
        return self.betas[0]

    @property
    def beta2(self):
        return self.betas[1]

    def _params(self):
        return {"lr": self.lr, "betas": self.betas, "eps": self.eps, "weight_decay": self.weight_decay}


class AdamW(Adam):
    """AdamW, as ``torch.optim.AdamW``: decoupled weight decay ``p *= 1 - lr * weight_decay``.

    Parameters
    ----------
    lr : float, default 1e-3
    betas : (float, float), default (0.9, 0.999)
    eps : float, default 1e-8
    weight_decay : float, default 1e-2
    """

    decoupled = True

    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=1e-2):
        super().__init__(lr, betas, eps, weight_decay)


class RMSprop(Optimizer):
    """RMSprop, as ``torch.optim.RMSprop``.

    Parameters
    ----------
    lr : float, default 1e-2
    alpha : float, default 0.99
        Smoothing constant of the squared-gradient average.
    eps : float, default 1e-8
    momentum : float, default 0
    weight_decay : float, default 0
    centered : bool, default False
    """

    kernel = rmsprop

    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False):
        super().__init__(lr)
        self.alpha = _check_number("alpha", alpha, high=1.0)
        self.eps = _check_number("eps", eps)
        self.momentum = _check_number("momentum", momentum)
        self.weight_decay = _check_number("weight_decay", weight_decay)
        self.centered = bool(centered)

    def _params(self):
        return {
            "lr": self.lr,
            "alpha": self.alpha,
            "eps": self.eps,
            "momentum": self.momentum,
            "weight_decay": self.weight_decay,
            "centered": self.centered,
        }


class Adagrad(Optimizer):
    """Adagrad, as ``torch.optim.Adagrad``.

    Parameters
    ----------
    lr : float, default 1e-2
    eps : float, default 1e-10
    lr_decay : float, default 0
    weight_decay : float, default 0
    """

    kernel = adagrad

    def __init__(self, lr=1e-2, eps=1e-10, lr_decay=0.0, weight_decay=0.0):
        super().__init__(lr)
        self.eps = _check_number("eps", eps)
        self.lr_decay = _check_number("lr_decay", lr_decay)
        self.weight_decay = _check_number("weight_decay", weight_decay)

    def _params(self):
        return {"lr": self.lr, "eps": self.eps, "lr_decay": self.lr_decay, "weight_decay": self.weight_decay}


OPTIMIZERS = {"sgd": SGD, "adam": Adam, "adamw": AdamW, "rmsprop": RMSprop, "adagrad": Adagrad}


def get_optimizer(spec):
    """An optimizer from an instance, a name (``"adam"``: its defaults) or None (Adam)."""
    if spec is None:
        return Adam()
    if isinstance(spec, Optimizer):
        return spec
    if isinstance(spec, str):
        try:
            return OPTIMIZERS[spec.lower()]()
        except KeyError:
            raise ValueError(f"unknown optimizer {spec!r}; choose one of {sorted(OPTIMIZERS)}") from None
    raise TypeError(f"optimizer must be a name or a fastbp optimizer, got {type(spec).__name__}")
