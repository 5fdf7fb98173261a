"""What ``MLP.fit`` does around its compiled epochs, each in one place.

``EpochLoop`` runs the epochs and records them; ``EarlyStopping`` decides
when the monitored loss stopped improving; ``notify`` calls the callbacks;
``Checkpoints`` saves the fit when one is due.  The epochs themselves are
single calls into compiled code (``kernels.network.train_epoch`` and its
parallel twin), made by the ``run_epoch`` function that ``MLP`` builds.
"""

import time
from dataclasses import dataclass, field

from . import checkpoint as checkpoints
from .compiling import notice, watch_if
from .kernels.network import NONFINITE_LOSS, OK
from .kernels.random import derive_key
from .threads import using_threads

SHUFFLE_STREAM = 0x5EED  # the counter that separates an epoch's keys from other draws of the fit's seed


class TrainingDiverged(FloatingPointError):
    """The loss or gradient became NaN or inf during ``fit``.

    The step that produced it was not applied, so the network keeps the
    weights from before that step, or, with early stopping on, the best
    weights seen so far.  ``epoch`` and ``step`` (both 0-based, ``step``
    counted within the epoch) say where it happened.
    """

    def __init__(self, epoch, step, what, kept="the weights from before that step"):
        self.epoch, self.step = epoch, step
        super().__init__(
            f"training diverged: non-finite {what} at epoch {epoch}, step {step}; "
            f"kept {kept} (try a lower learning rate)"
        )


def diverged(net, epoch, step, status, progress, history):
    """Raise ``TrainingDiverged``, first restoring the best weights of early stopping if there are any."""
    what = "loss" if status == NONFINITE_LOSS else "gradient"
    if progress.best_params is None:
        raise TrainingDiverged(epoch, step, what)
    net._load_state_vector(progress.best_params)
    raise TrainingDiverged(epoch, step, what, f"the best weights (epoch {history.best_epoch})")


@dataclass
class EarlyStopping:
    """Stop after ``patience`` epochs in which the monitored loss fell by no more than ``min_delta``.

    The best loss, its weights and the count of bad epochs live in the fit's
    ``Progress``, so a checkpoint carries them.  ``patience=None`` never stops.
    """

    patience: int | None
    min_delta: float = 0.0

    def update(self, progress, history, epoch, monitored, state):
        """Record epoch ``epoch``'s monitored loss; True when training should stop.

        ``state()`` gives the weights (and running statistics) to keep when the loss is the best so far.
        """
        if self.patience is None:
            return False
        if monitored < progress.best_loss - self.min_delta:
            progress.best_loss, progress.bad_epochs = monitored, 0
            progress.best_params = state()
            history.best_epoch = epoch
            return False
        progress.bad_epochs += 1
        return progress.bad_epochs >= self.patience


@dataclass
class Checkpoints:
    """Save the fit to ``path`` every ``every`` epochs, after the last one and when it stops early."""

    path: object
    every: int
    epochs: int

    def after_epoch(self, net, optimizer, schedule, progress, history, stop):
        due = stop or progress.epoch % self.every == 0 or progress.epoch == self.epochs
        if self.path is not None and due:
            checkpoints.save(self.path, net, optimizer, schedule, progress, history)


def notify(callbacks, info):
    """Call each callback with the epoch's ``info``; True when any asked to stop.

    Every callback sees every epoch, even after an earlier one asked to stop.
    """
    stop = False
    for callback in callbacks:
        stop = bool(callback(info)) or stop
    return stop


@dataclass
class EpochLoop:
    """The epochs of one ``fit``, from ``progress.epoch`` up to ``epochs``.

    ``run_epoch(lr, key)`` trains one epoch in compiled code and returns
    ``(summed loss, summed row weight, steps, status, failing step)``; ``validate()`` returns
    the validation loss and accuracy (or None) after an epoch, or None
    without validation data.
    """

    net: object
    run_epoch: object
    validate: object
    optimizer: object
    schedule: object
    progress: object
    history: object
    epochs: int
    n_rows: int
    stopping: EarlyStopping
    checkpoints: Checkpoints
    callbacks: list = field(default_factory=list)
    n_threads: int | None = None
    say_compiling: bool = False  # print a notice when a kernel compiles (fit with verbose)

    def run(self):
        progress = self.progress
        start = progress.epoch
        for epoch in range(start, self.epochs if not progress.stopped else 0):
            stop = self.epoch(epoch, first=epoch == start)
            self.history.stopped_early = progress.stopped = stop
            progress.epoch = epoch + 1
            self.checkpoints.after_epoch(
                self.net, self.optimizer, self.schedule, progress, self.history, stop
            )
            if stop:
                break

    def epoch(self, epoch, first=False):
        """Train and record epoch ``epoch``; True when early stopping or a callback ends the fit.
        Only the ``first`` epoch of a fit can compile (every epoch runs the same kernels), so only it
        is watched for compiles."""
        net, optimizer, progress, history = self.net, self.optimizer, self.progress, self.history
        lr = self.schedule.lr(epoch, optimizer.lr)
        key = derive_key(progress.fit_seed, SHUFFLE_STREAM, progress.first_epoch + epoch)
        start = time.perf_counter()
        say = notice("training kernel") if self.say_compiling else None
        with watch_if(first, say) as compiling, using_threads(self.n_threads):
            total, weight, steps, status, failed = self.run_epoch(lr, key)
        seconds = time.perf_counter() - start - compiling.seconds  # a first run's compile is not training
        optimizer.step_count += steps
        if status != OK:
            diverged(net, epoch, failed, status, progress, history)
        net.epochs_trained += 1
        history.loss.append(total / weight if weight > 0 else 0.0)
        history.lr.append(lr)
        history.seconds.append(seconds)
        monitored = history.loss[-1]
        with watch_if(first, notice("evaluation kernels") if self.say_compiling else None):
            validated = self.validate()
        if validated is not None:
            monitored, accuracy = validated
            history.val_loss.append(monitored)
            if accuracy is not None:
                history.val_accuracy.append(accuracy)
        self.schedule.observe(epoch, monitored)
        stop = self.stopping.update(progress, history, epoch, monitored, net._state_vector)
        info = {
            "epoch": epoch, "epochs": self.epochs, "loss": history.loss[-1],
            "val_loss": history.val_loss[-1] if history.val_loss else None,
            "val_accuracy": history.val_accuracy[-1] if history.val_accuracy else None, "lr": lr,
            "seconds": seconds, "samples_per_second": self.n_rows / max(seconds, 1e-9),
            "compile_seconds": compiling.seconds,
            "net": net, "optimizer": optimizer,
        }  # fmt: skip
        return notify(self.callbacks, info) or stop
