"""Learning-rate schedules, applied once per epoch.

A schedule maps the epoch number (0-based, counted within one ``fit``) and the
optimizer's base learning rate to the rate used for every step of that epoch.
``ReduceOnPlateau`` also watches the monitored loss through ``observe``.
"""

import math


class Schedule:
    """Base class; a constant learning rate."""

    def lr(self, epoch, base_lr):
        """Learning rate for ``epoch``."""
        return base_lr

    def observe(self, epoch, metric):
        """Called after each epoch with the monitored loss (validation if given)."""

    def reset(self):
        """Called at the start of each fit."""

    def state(self):
        """What the schedule has learnt during a fit (its private attributes), for checkpoints."""
        return {k: v for k, v in vars(self).items() if k.startswith("_")}

    def load_state(self, state):
        """Restore what ``state`` returned."""
        for k, v in state.items():
            setattr(self, k, v)

    def __repr__(self):
        fields = ", ".join(f"{k}={v!r}" for k, v in vars(self).items() if not k.startswith("_"))
        return f"{type(self).__name__}({fields})"


class Constant(Schedule):
    """The base learning rate throughout."""


class StepDecay(Schedule):
    """Multiply by ``gamma`` every ``step_size`` epochs, as ``torch.optim.lr_scheduler.StepLR``."""

    def __init__(self, step_size=10, gamma=0.1):
        if int(step_size) != step_size or step_size < 1:
            raise ValueError(f"step_size must be a positive integer, got {step_size!r}")
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma!r}")
        self.step_size = int(step_size)
        self.gamma = float(gamma)

    def lr(self, epoch, base_lr):
        return base_lr * self.gamma ** (epoch // self.step_size)


class Exponential(Schedule):
    """Multiply by ``gamma`` every epoch, as ``ExponentialLR``."""

    def __init__(self, gamma=0.95):
        if not gamma > 0:
            raise ValueError(f"gamma must be > 0, got {gamma!r}")
        self.gamma = float(gamma)

    def lr(self, epoch, base_lr):
        return base_lr * self.gamma**epoch


class Cosine(Schedule):
    """Cosine annealing from the base rate to ``eta_min`` over ``t_max`` epochs, as ``CosineAnnealingLR``.

    With ``t_max=None`` the fit's number of epochs is used.
    """

    def __init__(self, t_max=None, eta_min=0.0):
        if t_max is not None and (int(t_max) != t_max or t_max < 1):
            raise ValueError(f"t_max must be a positive integer or None, got {t_max!r}")
        self.t_max = None if t_max is None else int(t_max)
        self.eta_min = float(eta_min)
        self._epochs = 1

    def lr(self, epoch, base_lr):
        t_max = self.t_max or self._epochs
        return self.eta_min + (base_lr - self.eta_min) * 0.5 * (1.0 + math.cos(math.pi * epoch / t_max))


class InverseScaling(Schedule):
    """``base_lr / (epoch + 1) ** power_t`` (scikit-learn's "invscaling", counted in epochs)."""

    def __init__(self, power_t=0.5):
        if not power_t >= 0:
            raise ValueError(f"power_t must be >= 0, got {power_t!r}")
        self.power_t = float(power_t)

    def lr(self, epoch, base_lr):
        return base_lr / (epoch + 1) ** self.power_t


class ReduceOnPlateau(Schedule):
    """Multiply by ``factor`` when the monitored loss has not improved for ``patience`` epochs.

    Improvement means falling below ``best * (1 - threshold)``, as torch's
    ``ReduceLROnPlateau`` in its default "rel" mode; the rate never goes below
    ``min_lr``.
    """

    def __init__(self, factor=0.1, patience=10, threshold=1e-4, min_lr=0.0):
        if not 0 < factor < 1:
            raise ValueError(f"factor must be in (0, 1), got {factor!r}")
        if int(patience) != patience or patience < 0:
            raise ValueError(f"patience must be a non-negative integer, got {patience!r}")
        self.factor = float(factor)
        self.patience = int(patience)
        self.threshold = float(threshold)
        self.min_lr = float(min_lr)
        self.reset()

    def reset(self):
        self._scale = 1.0
        self._best = math.inf
        self._bad_epochs = 0

    def observe(self, epoch, metric):
        if metric < self._best * (1.0 - self.threshold):
            self._best = metric
            self._bad_epochs = 0
        else:
            self._bad_epochs += 1
            if self._bad_epochs > self.patience:
                self._scale *= self.factor
                self._bad_epochs = 0

    def lr(self, epoch, base_lr):
        return max(base_lr * self._scale, self.min_lr)


SCHEDULES = {
    "constant": Constant,
    "step": StepDecay,
    "exponential": Exponential,
    "cosine": Cosine,
    "invscaling": InverseScaling,
    "plateau": ReduceOnPlateau,
}


def get_schedule(spec, epochs):
    """A schedule from an instance, a name (its defaults) or None (constant)."""
    if spec is None:
        schedule = Constant()
    elif isinstance(spec, Schedule):
        schedule = spec
    elif isinstance(spec, str) and spec.lower() in SCHEDULES:
        schedule = SCHEDULES[spec.lower()]()
    else:
        raise ValueError(
            f"unknown lr_schedule {spec!r}; choose one of {sorted(SCHEDULES)} or pass a Schedule"
        )
    if isinstance(schedule, Cosine):
        schedule._epochs = epochs
    schedule.reset()
    return schedule
