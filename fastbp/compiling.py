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


class CompileWatch(event.Listener):
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
        self._thread = threading.get_ident()
        self._depth, self._start, self._timer = 0, 0.0, None
        self._context = None

    def on_start(self, ev):
        if threading.get_ident() != self._thread:
            return
        self._depth += 1
        if self._depth == 1:
            self._start = time.perf_counter()
            if self.notice is not None and not self.noticed and self.notice_after <= 0:
                self._say()
            elif self.notice is not None and not self.noticed:
                self._timer = threading.Timer(self.notice_after, self._say)
                self._timer.daemon = True
                self._timer.start()

    def on_end(self, ev):
        if threading.get_ident() != self._thread or self._depth == 0:
            return
        self._depth -= 1
        if self._depth == 0:
            self.seconds += time.perf_counter() - self._start
            if self._timer is not None:
                self._timer.cancel()
                self._timer = None

    def _say(self):
        self.noticed = True
        print(self.notice, file=self.stream or sys.stdout, flush=True)

    def __enter__(self):
        self._context = event.install_listener("numba:compile", self)
        self._context.__enter__()
        return self

    def __exit__(self, *exc):
        if self._timer is not None:
            self._timer.cancel()
        return self._context.__exit__(*exc)


def notice(what):
    """The line a first compile prints: ``what`` is being compiled, once per machine, and how long."""
    return (
        f"compiling fastbp's {what} for this machine (once; later runs load it from the cache; "
        f"{FIRST_COMPILE_ESTIMATE})..."
    )


__all__ = ["CompileWatch", "notice", "FIRST_COMPILE_ESTIMATE"]
