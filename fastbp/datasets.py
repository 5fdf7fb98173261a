"""Data sets that ship inside fastbp."""

from importlib import resources

import numpy as np


def make_spirals(n_per_class=1000, n_classes=3, noise=0.2, seed=0):
    """Interleaved 2-D spirals, a classic problem no linear model solves.

    Returns
    -------
    X : ndarray of shape (n_per_class * n_classes, 2), float32
    y : ndarray of shape (n_per_class * n_classes,), int64 class labels
    """
    rng = np.random.default_rng(seed)
    t = np.linspace(0.0, 1.0, n_per_class)
    X, y = [], []
    for k in range(n_classes):
        angle = 4.0 * t + 2.0 * np.pi * k / n_classes
        points = np.stack([t * np.sin(angle), t * np.cos(angle)], axis=1)
        X.append(points + noise * t[:, None] * rng.normal(size=points.shape))
        y.append(np.full(n_per_class, k, dtype=np.int64))
    return np.concatenate(X).astype(np.float32), np.concatenate(y)


def load_digits():
    """The 8x8 handwritten digits (UCI optdigits, CC BY 4.0; see ``fastbp/data/README.md``).

    Returns
    -------
    X : ndarray of shape (1797, 64), float32
        Pixel counts 0..16, one row-major 8x8 image per row.
    y : ndarray of shape (1797,), int64
        The digit, 0..9.
    """
    with resources.files("fastbp").joinpath("data/digits.npz").open("rb") as f:
        with np.load(f, allow_pickle=False) as archive:
            return archive["images"].astype(np.float32), archive["labels"].astype(np.int64)
