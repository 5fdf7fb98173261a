"""The one place that sets Numba's compile options for every kernel.

``fastmath`` leaves out ``nnan`` and ``ninf`` on purpose: with them LLVM may
assume no value is NaN or inf and fold away the very checks that detect a
diverging run.  ``error_model="numpy"`` makes division by zero give inf/NaN
instead of raising, which is what the finite checks in the training loop
expect; it also lets LLVM vectorise loops that contain a division.
"""

import numba

FASTMATH = set({"nsz", "arcp", "contract", "afn", "reassoc"})

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": FASTMATH,
    "error_model": "numpy",
}

# Elementwise work below this many elements stays on the calling thread: waking
# the thread pool costs a few microseconds, more than such a loop takes.
PARALLEL_MIN_ELEMENTS = 1 << 16


def jit(func):
    """Compile ``func`` serially with fastbp's options."""
    return numba.njit(**JIT_OPTIONS)(func)


def jit_inline(func):
    """Compile a small scalar helper that is inlined into its callers."""
    return numba.njit(inline="always", **JIT_OPTIONS)(func)


def jit_serial_and_parallel(func):
    """Compile one source twice: serially and with ``parallel=True``.

    ``prange`` in the source is a plain ``range`` in the serial version, so
    the two are the same algorithm and the tests compare them directly.
    """
    serial = numba.njit(**JIT_OPTIONS)(func)
    parallel = numba.njit(parallel=True, **JIT_OPTIONS)(func)
    return serial, parallel


# Start numba's threading layer now.  Serial kernels call parallel ones; when
# both come from the on-disk cache in a fresh process, nothing else would start
# the layer first and LLVM aborts with "Symbol not found: allocate_sched".
# numba.get_num_threads() starts it as a side effect, through the public API.
numba.get_num_threads()
