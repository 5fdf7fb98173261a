"""Data sets that ship inside fastbp."""

from importlib import resources

import numpy as np


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
