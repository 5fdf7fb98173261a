"""The one place that sets Numba's compile options for every kernel.

``fastmath`` leaves out ``nnan`` and ``ninf`` on purpose: with them LLVM may
assume no value is NaN or inf and fold away the very checks that detect a
diverging run.  ``error_model="numpy"`` makes division by zero give inf/NaN
instead of raising, which is what the finite checks in the training loop
expect; it also lets LLVM vectorise loops that contain a division.
"""

import hashlib
import os
import pathlib
import tempfile
import types
import warnings

import numba
from numba.core import config
from numba.core.compiler import CompilerBase, DefaultPassBuilder
from numba.core.compiler_machinery import register_pass
from numba.core.typed_passes import NativeLowering, NativeParforLowering

FASTMATH = set({"nsz", "arcp", "contract", "afn", "reassoc"})
# The optimizer updates leave out reassoc: with it, float32 Adam turned a
# gradient entry of 2e19 (whose square overflows) into a NaN second moment,
# and without it the moment is 4e35, as in torch.optim (measured), presumably
# because reassoc lets LLVM distribute (1 - beta2) * g * g into
# g * g - beta2 * g * g = inf - inf.  The loops are elementwise and vectorise
# without it (Adam over 235k float32 parameters: 69 us with, 73 us without,
# within noise).
FASTMATH_ELEMENTWISE = FASTMATH - {"reassoc"}

# LLVM's optimisation level for fastbp's kernels.  A first fit and predict
# in a fresh cache (20-64-3) took 21.2 s at numba's default level 3 and 17.9 s
# at level 1, with the same speed afterwards: the kernels are simple loops that
# level 1 still vectorises (the chains, tiny and feature-major kernel timings
# matched within noise; level 0 was 15x slower).  Numba re-optimises every
# caller together with the callees linked into it, so the level counts at each
# level of the call tree.  It applies to fastbp's functions only, through
# ``Pipeline`` below, never to other numba code in the process.
LLVM_OPT_LEVEL = 1


def _at_fastbp_level(lowering):
    """numba's lowering pass ``lowering``, with LLVM's level set to ``LLVM_OPT_LEVEL`` while it runs.

    The lowering pass is where numba optimises and emits machine code; it
    runs under numba's global compiler lock, so no other compilation sees the
    temporary level.
    """

    class LowerAtFastbpLevel(lowering):
        _name = "fastbp_" + lowering._name

        def run_pass(self, state):
            saved = config.OPT
            config.OPT = type(saved)(LLVM_OPT_LEVEL)
            try:
                return super().run_pass(state)
            finally:
                config.OPT = saved

    LowerAtFastbpLevel.__qualname__ = LowerAtFastbpLevel.__name__ = "FastbpLevel" + lowering.__name__
    return register_pass(mutates_CFG=True, analysis_only=False)(LowerAtFastbpLevel)


# numba lowers a serial function with NativeLowering and a parallel one with NativeParforLowering,
# two sibling classes: both are replaced
LOWERINGS = {cls: _at_fastbp_level(cls) for cls in (NativeLowering, NativeParforLowering)}


class Pipeline(CompilerBase):
    """numba's nopython pipeline with its lowering pass replaced by the one of ``LOWERINGS``."""

    def define_pipelines(self):
        pm = DefaultPassBuilder.define_nopython_pipeline(self.state)
        pm.passes = [(LOWERINGS.get(cls, cls), what) for cls, what in pm.passes]
        pm.finalize()
        return [pm]


def _writable_folder(folder):
    """Whether files can be created in ``folder`` (made if missing), as numba's cache needs."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with tempfile.TemporaryFile(dir=folder):
            return True
    except OSError:
        return False


def _cache_folder():
    """True when numba can cache fastbp's kernels, choosing a folder where its own choice fails.

    numba caches beside the source (the package's ``__pycache__``) or in the
    user's cache folder, and refuses to compile a cached function at all when
    neither can be written (a read-only install run by a user without a home).
    Then the kernels cache in a private folder under the temporary folder, or,
    where even that fails, compile in every process without a cache (a
    warning says so once).  ``NUMBA_CACHE_DIR`` always wins.
    """
    if config.CACHE_DIR:
        return True
    from numba.misc.appdirs import AppDirs

    user_wide = pathlib.Path(AppDirs(appname="numba", appauthor=False).user_cache_dir)
    beside = [folder / "__pycache__" for folder in (_PACKAGE / "kernels").rglob("*") if folder.is_dir()
              and folder.name != "__pycache__"] + [_PACKAGE / "kernels" / "__pycache__"]  # fmt: skip
    if all(_writable_folder(folder) for folder in beside) or _writable_folder(user_wide):
        return True
    uid = os.getuid() if hasattr(os, "getuid") else 0
    private = pathlib.Path(tempfile.gettempdir()) / f"fastbp-numba-cache-{uid}"
    try:
        private.mkdir(mode=0o700, exist_ok=True)
        owned = private.stat().st_uid == uid and not private.is_symlink()
    except OSError:
        owned = False
    if owned and _writable_folder(private):
        # numba re-reads its settings from the environment when they change: set both
        os.environ["NUMBA_CACHE_DIR"] = config.CACHE_DIR = str(private)
        return True
    warnings.warn(
        "fastbp: no writable folder for numba's cache (the package folder, the user's cache folder and "
        f"{private} all failed); the kernels compile again in every new process. Set NUMBA_CACHE_DIR "
        "to a writable folder to keep them.",
        RuntimeWarning,
        stacklevel=2,
    )
    return False


_PACKAGE = pathlib.Path(__file__).resolve().parent

JIT_OPTIONS = {
    "cache": _cache_folder(),
    "nogil": True,
    "fastmath": FASTMATH,
    "error_model": "numpy",
    "pipeline_class": Pipeline,
}

# Optimizer updates below this many parameters stay on the calling thread.
# Measured on 2 cores (784-256-128-10, batch 128, Adam): with the
# threshold at 2**16 the parallel Adam update ran every step, numba's OpenMP
# workers kept spinning afterwards while OpenBLAS's threads needed the cores,
# and an epoch ran at 15k samples/s instead of 63k-67k.  The matrix products
# already use BLAS's threads, so the loops go parallel only when they are
# large enough to amortise that.
PARALLEL_MIN_ELEMENTS = 1 << 22


def jit(func):
    """Compile ``func`` serially with fastbp's options."""
    return numba.njit(**JIT_OPTIONS)(func)


def jit_inline(func):
    """Compile a helper that numba inlines into its callers (small helpers and the op kernels)."""
    return numba.njit(inline="always", **JIT_OPTIONS)(func)


def jit_serial_and_parallel(func, fastmath=FASTMATH):
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
    options = {**JIT_OPTIONS, "fastmath": fastmath}
    serial = numba.njit(**options)(func)
    parallel = numba.njit(parallel=True, **options)(twin)
    return serial, parallel


def jit_with_globals(func, suffix, parallel=False, **names):
    """Compile a copy of ``func`` in which the global ``names`` are bound to other values.

    One source, several kernels: the serial and the parallel epoch differ
    only in which pass they call, and a pass for plain MLPs differs from the
    full one in the op kernels it can reach.  The copy gets its own qualified
    name (``func.__qualname__ + suffix``), as numba's on-disk cache requires.
    """
    scope = dict(func.__globals__)
    scope.update(names)
    copy = types.FunctionType(
        func.__code__, scope, func.__name__ + suffix, func.__defaults__, func.__closure__
    )
    copy.__qualname__ = func.__qualname__ + suffix
    copy.__module__ = func.__module__
    return numba.njit(parallel=parallel, **JIT_OPTIONS)(copy)


# Start numba's threading layer now.  Serial kernels call parallel ones; when
# both come from the on-disk cache in a fresh process, nothing else would start
# the layer first and LLVM aborts with "Symbol not found: allocate_sched".
# numba.get_num_threads() starts it as a side effect, through the public API.
numba.get_num_threads()


# numba's on-disk cache checks only the source file of the function it
# compiled, but a kernel's machine code includes the kernels it calls from
# other files: after an edit (or an upgrade) that touches optimizers.py alone,
# train_epoch in network.py would still load the old optimizer from its cache.
# fastbp's functions are therefore stamped with a hash of every file that
# compiled code comes from (this file, for the options, and kernels/), so any
# change there recompiles them all; the Python API's files are left out, so
# editing them keeps the cache.  Functions of other packages keep numba's
# usual locators.


def source_stamp(package=_PACKAGE):
    """SHA-256 over the names and contents of ``_jit.py`` and every .py file under ``kernels/``."""
    digest = hashlib.sha256()
    for path in sorted([package / "_jit.py", *(package / "kernels").rglob("*.py")]):
        digest.update(str(path.relative_to(package)).encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()


def _install_package_stamp():
    try:
        from numba.core import caching

        bases = [caching.UserProvidedCacheLocator, caching.InTreeCacheLocator, caching.UserWideCacheLocator]
        locators = caching.CacheImpl._locator_classes
    except AttributeError:  # another numba layout: keep its default caching
        return
    stamp = source_stamp()

    def make(base):
        class PackageStampedLocator(base):
            def get_source_stamp(self):
                return stamp

            @classmethod
            def from_function(cls, py_func, py_file):
                try:
                    inside = pathlib.Path(py_file).resolve().is_relative_to(_PACKAGE)
                except OSError:
                    inside = False
                return super().from_function(py_func, py_file) if inside else None

        PackageStampedLocator.__name__ = f"FastbpStamped{base.__name__}"
        return PackageStampedLocator

    if not any(getattr(cls, "_fastbp", False) for cls in locators):
        stamped = [make(base) for base in bases]
        for cls in stamped:
            cls._fastbp = True
        locators[:0] = stamped


_install_package_stamp()
