"""The one place that sets Numba's compile options for every kernel.

``fastmath`` leaves out ``nnan`` and ``ninf`` on purpose: with them LLVM may
assume no value is NaN or inf and fold away the very checks that detect a
diverging run.  ``error_model="numpy"`` makes division by zero give inf/NaN
instead of raising, which is what the finite checks in the training loop
expect; it also lets LLVM vectorise loops that contain a division.
"""

import types

import numba

FASTMATH = set({"nsz", "arcp", "contract", "afn", "reassoc"})

JIT_OPTIONS = {
    "cache": True,
    "nogil": True,
    "fastmath": FASTMATH,
    "error_model": "numpy",
}

# Elementwise and optimizer loops below this many elements stay on the calling
# thread.  Measured on 2 cores (784-256-128-10, batch 128, Adam): with the
# threshold at 2**16 the parallel Adam update ran every step, numba's OpenMP
# workers kept spinning afterwards while OpenBLAS's threads needed the cores,
# and an epoch ran at 15k samples/s instead of about 90k.  The matrix products
# already use BLAS's threads, so the loops go parallel only when they are
# large enough to amortise that.
# Numba's cache does not notice a change here: delete fastbp's __pycache__.
PARALLEL_MIN_ELEMENTS = 1 << 22


def jit(func):
    """Compile ``func`` serially with fastbp's options."""
    return numba.njit(**JIT_OPTIONS)(func)


def jit_parallel(func):
    """Compile ``func`` with ``parallel=True``: its ``prange`` loops run on numba's thread pool."""
    return numba.njit(parallel=True, **JIT_OPTIONS)(func)


def jit_inline(func):
    """Compile a small scalar helper that is inlined into its callers."""
    return numba.njit(inline="always", **JIT_OPTIONS)(func)


def jit_serial_and_parallel(func):
    """Compile one source twice: serially and with ``parallel=True``.

    ``prange`` in the source is a plain ``range`` in the serial version, so
    the two are the same algorithm and the tests compare them directly.
    The parallel twin is a copy of the function under another qualified name:
    numba's on-disk cache keys entries by that name and the signature, not by
    the ``parallel`` flag, so two dispatchers of one function object would
    load each other's machine code from the cache.
    """
    twin = types.FunctionType(
        func.__code__, func.__globals__, func.__name__ + "_parallel", func.__defaults__, func.__closure__
    )
    twin.__qualname__ = func.__qualname__ + "_parallel"
    twin.__module__ = func.__module__
    serial = numba.njit(**JIT_OPTIONS)(func)
    parallel = numba.njit(parallel=True, **JIT_OPTIONS)(twin)
    return serial, parallel


# Start numba's threading layer now.  Serial kernels call parallel ones; when
# both come from the on-disk cache in a fresh process, nothing else would start
# the layer first and LLVM aborts with "Symbol not found: allocate_sched".
# numba.get_num_threads() starts it as a side effect, through the public API.
numba.get_num_threads()
