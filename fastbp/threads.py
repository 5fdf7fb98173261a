"""How many threads fastbp's own parallel loops use.

fastbp's parallel kernels run on numba's thread pool.  The default is numba's
own (``NUMBA_NUM_THREADS``, else the core count), lowered to ``OMP_NUM_THREADS``
when that is set.  ``set_num_threads`` changes fastbp's default, and
``n_threads=`` on ``fit``/``predict`` applies to one call; either way numba's
setting is changed only for the duration of fastbp's call, on the calling
thread, and restored afterwards.  fastbp never changes another library's
thread settings: the BLAS that numba calls for the matrix products of large
layers keeps its own pool (``OPENBLAS_NUM_THREADS``/``OMP_NUM_THREADS``).
"""

import contextlib
import numbers
import os

import numba

_default = None


def _env_default():
    limit = numba.config.NUMBA_NUM_THREADS
    omp = os.environ.get("OMP_NUM_THREADS", "")
    if "NUMBA_NUM_THREADS" not in os.environ and omp.strip().isdigit() and int(omp) > 0:
        limit = min(limit, int(omp))
    return limit


_ENV_DEFAULT = _env_default()  # read once: the environment is read at start-up, as numba does


def get_num_threads():
    """Threads fastbp's parallel loops use by default."""
    return _default if _default is not None else _ENV_DEFAULT


def set_num_threads(n):
    """Set fastbp's default thread count (at most numba's pool size, ``NUMBA_NUM_THREADS``).

    Parameters
    ----------
    n : int or None
        None goes back to the environment's default.
    """
    global _default
    _default = None if n is None else check_threads(n)


def check_threads(n):
    if isinstance(n, bool) or not isinstance(n, numbers.Integral) or n < 1:
        raise ValueError(f"n_threads must be a positive integer, got {n!r}")
    limit = numba.config.NUMBA_NUM_THREADS
    if n > limit:
        raise ValueError(f"n_threads={n} exceeds numba's pool of {limit} threads (NUMBA_NUM_THREADS)")
    return int(n)


_UNCHANGED = contextlib.nullcontext()


def using_threads(n=None):
    """A context that runs its body with numba's thread count at ``n`` (fastbp's default when None).

    When neither ``n`` nor ``set_num_threads`` nor the environment asks for
    anything but numba's own pool size, nothing is changed, and the context is
    a shared no-op (a generator-based context costs ~2 us, a tenth of a
    one-row predict).
    """
    if n is None and _default is None and _ENV_DEFAULT == numba.config.NUMBA_NUM_THREADS:
        return _UNCHANGED
    return _switched_threads(get_num_threads() if n is None else check_threads(n))


@contextlib.contextmanager
def _switched_threads(n):
    previous = numba.get_num_threads()
    if previous == n:
        yield
        return
    numba.set_num_threads(n)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
