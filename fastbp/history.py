"""``History``: what ``MLP.fit`` records, one entry per epoch (checkpoints store it too)."""

from dataclasses import dataclass, field


@dataclass
class History:
    """What ``fit`` recorded, one entry per epoch.

    Attributes
    ----------
    loss : list of float
        Mean training loss of the epoch (mean over rows of each batch's loss,
        including the L2 term when ``alpha > 0``).
    val_loss : list of float
        Mean loss on ``validation_data`` after the epoch (no dropout, no L2 term).
    val_accuracy : list of float
        Accuracy on ``validation_data`` after the epoch, for the cross-entropy
        losses (for binary_cross_entropy: the fraction of outputs on the right
        side of 0.5).
    lr : list of float
        Learning rate used in the epoch.
    seconds : list of float
        Wall time of the epoch's training pass.
    best_epoch : int or None
        Epoch with the lowest validation loss, when early stopping was on.
    stopped_early : bool
    """

    loss: list = field(default_factory=list)
    val_loss: list = field(default_factory=list)
    val_accuracy: list = field(default_factory=list)
    lr: list = field(default_factory=list)
    seconds: list = field(default_factory=list)
    best_epoch: int | None = None
    stopped_early: bool = False
