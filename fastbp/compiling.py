"""Time numba spends compiling, so a first run says that it compiles and no samples/s counts it.

``CompileWatch`` listens to numba's compile events (``numba.core.event``) on
the calling thread.  A compile that is still running after ``notice_after``
seconds prints its notice once (loading a kernel from the on-disk cache takes
a fraction of a second and says nothing); ``seconds`` is the time the
outermost compiles took, which ``fit`` leaves out of an epoch's time.
"""

import sys
import threading
import time

from numba.core import event

# what a first compile costs, measured (fastbp train on the bundled digits, a fresh cache, 2 cores): said
# in the notice so the wait is not a surprise
FIRST_COMPILE_ESTIMATE = "about 20-60 s"


class _Dispatch(event.Listener):
    """The one listener fastbp registers with numba, once: it hands each compile event to the watches
    open on the thread that compiles.  numba's list of listeners has no lock, so watches are never
    added to or removed from it while other threads compile (fit_many runs fits on worker threads)."""

    def __init__(self):
        self.lock = threading.Lock()
        self.watches = {}  # thread id -> open watches, innermost last

    def _open(self):
        with self.lock:
            return list(self.watches.get(threading.get_ident(), ()))

    def on_start(self, ev):
        for watch in self._open():
            watch.started()

    def on_end(self, ev):
        for watch in self._open():
            watch.ended()

    def push(self, watch):
        with self.lock:
            self.watches.setdefault(threading.get_ident(), []).append(watch)

    def pop(self, watch):
        with self.lock:
            mine = self.watches.get(threading.get_ident(), [])
            if watch in mine:
                mine.remove(watch)
            if not mine:
                self.watches.pop(threading.get_ident(), None)


_DISPATCH = _Dispatch()
_registered = threading.Lock()


def _register_once():
    with _registered:
        if not getattr(_DISPATCH, "registered", False):
            event.register("numba:compile", _DISPATCH)
            _DISPATCH.registered = True


class CompileWatch:
    """``with CompileWatch(notice) as watch:`` ... ``watch.seconds``.

    Parameters
    ----------
    notice : str, optional
        Printed to ``stream`` once, when a compile on this thread has run for
        ``notice_after`` seconds; None prints nothing.
    stream : file, default sys.stdout
    notice_after : float, default 1.0
    """

    def __init__(self, notice=None, stream=None, notice_after=1.0):
        self.notice, self.stream, self.notice_after = notice, stream, notice_after
        self.seconds = 0.0
        self.noticed = False
        self._depth, self._start, self._timer = 0, 0.0, None

    def started(self):
        self._depth += 1
        if self._depth > 1:
            return
        self._start = time.perf_counter()
        if self.notice is None or self.noticed:
            return
        if self.notice_after <= 0:
            self._say()
        else:
            self._timer = threading.Timer(self.notice_after, self._say)
            self._timer.daemon = True
            self._timer.start()

    def ended(self):
        if self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._start
            self._stop_timer()

    def _stop_timer(self):
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None

    def _say(self):
        self.noticed = True
        print(self.notice, file=self.stream or sys.stdout, flush=True)

    def __enter__(self):
        _register_once()
        if any(w.notice is not None for w in _DISPATCH._open()):
            self.notice = None  # an outer watch on this thread speaks for the compiles inside it
        _DISPATCH.push(self)
        return self

    def __exit__(self, *exc):
        _DISPATCH.pop(self)
        self._stop_timer()
        return False


class _Unwatched:
    """What ``watch_if`` gives when there is nothing to watch: no compile time, no notice, no cost."""

    seconds = 0.0

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        return False


_UNWATCHED = _Unwatched()


def watch_if(condition, notice=None, stream=None):
    """A ``CompileWatch`` when ``condition`` (a call that may compile: the first of its kind), else a
    shared stand-in with ``seconds`` 0 that costs nothing: hot loops pay for the watch once."""
    return CompileWatch(notice, stream) if condition else _UNWATCHED


def notice(what):
    """The line a first compile prints: ``what`` is being compiled, once per machine, and how long."""
    return (
        f"compiling fastbp's {what} for this machine (once; later runs load it from the cache; "
        f"{FIRST_COMPILE_ESTIMATE})..."
    )


__all__ = ["CompileWatch", "watch_if", "notice", "FIRST_COMPILE_ESTIMATE"]
