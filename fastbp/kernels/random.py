"""Counter-based random numbers: the same key and counter give the same value.

A value depends only on ``(key, counter)``, never on a hidden generator state,
so shuffles and dropout masks are reproducible, can be regenerated in the
backward pass instead of stored, and do not depend on the thread count.

What ``MLP.fit`` draws (``tests/reference.py`` rewrites it independently):

- an epoch's key ``k = derive_key(seed, 0x5EED, epoch)`` (see ``fit``'s ``seed``);
- its row order: ``shuffled_order`` with key ``k``, Fisher-Yates from the
  last position down, position ``i`` swapped with ``mix(k, i) % (i + 1)``;
- batch ``b``'s dropout key ``kb = mix(k, 2**40 + b)``, and in hidden layer
  ``l`` (width ``w``) the element of batch row ``r`` and column ``j`` is kept
  when ``uniform(mix(kb, l), r * w + j) >= rate``, kept values scaled by
  ``1 / (1 - rate)``.  ``loss_grad(dropout_seed=s)`` uses ``kb = s``.
"""

import numpy as np

from .._jit import jit_inline

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_MIX1 = np.uint64(0xBF58476D1CE4E5B9)
_MIX2 = np.uint64(0x94D049BB133111EB)
_S30 = np.uint64(30)
_S27 = np.uint64(27)
_S31 = np.uint64(31)
_S11 = np.uint64(11)
_UNIT = 1.0 / 9007199254740992.0  # 2**-53


@jit_inline
def mix(key, counter):
    """splitmix64 finaliser of ``key + (counter + 1) * golden``: a uint64 hash."""
    x = np.uint64(key) + (np.uint64(counter) + np.uint64(1)) * _GOLDEN
    x = (x ^ (x >> _S30)) * _MIX1
    x = (x ^ (x >> _S27)) * _MIX2
    return x ^ (x >> _S31)


@jit_inline
def uniform(key, counter):
    """A float64 uniform on [0, 1) from ``(key, counter)``."""
    return float(mix(key, counter) >> _S11) * _UNIT


def derive_key(seed, *counters):
    """A uint64 key from a seed and counters, for use from Python (e.g. one key per epoch)."""
    key = np.uint64(seed)
    for counter in counters:
        # numba hands a uint64 back as a Python int: wrap it again so the
        # kernels are always called with a uint64 key (one compiled signature)
        key = np.uint64(mix(key, np.uint64(counter)))
    return key
