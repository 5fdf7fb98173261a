"""What ``fit(verbose=...)`` shows: a live progress bar on a terminal, else one line per epoch.

The live bar is tqdm's (``pip install fastbp[cli]``): a well-kept library does
that job better than a hand-written one.  Without tqdm, or when the output is
not a terminal (a log file, a pipe, CI), each epoch prints one line instead.
"""

import sys
import time


def _format_metrics(info):
    parts = [f"loss {info['loss']:.4g}"]
    if info.get("val_loss") is not None:
        parts.append(f"val_loss {info['val_loss']:.4g}")
    if info.get("val_accuracy") is not None:
        parts.append(f"val_acc {info['val_accuracy']:.4f}")
    parts.append(f"{info['samples_per_second']:,.0f} samples/s")
    if info.get("compile_seconds", 0.0) >= 0.5:
        parts.append(f"(+{info['compile_seconds']:.1f} s compiling, not counted)")
    return "  ".join(parts)


def _tqdm():
    try:
        from tqdm.auto import tqdm
    except ImportError:
        return None
    return tqdm


class EpochReporter:
    """A ``fit`` callback that reports each epoch to ``stream``.

    Parameters
    ----------
    epochs : int
        Epochs the fit will run (for the bar's length and the time left).
    stream : file, default sys.stdout
    live : bool, optional
        True for a live bar, False for one line per epoch; by default a live
        bar when ``stream`` is a terminal and tqdm is installed.
    first_epoch : int, default 0
        Epochs already done (a resumed fit).
    """

    def __init__(self, epochs, stream=None, live=None, first_epoch=0):
        self.epochs = epochs
        self.stream = sys.stdout if stream is None else stream
        tqdm = _tqdm()
        if live is None:
            live = tqdm is not None and getattr(self.stream, "isatty", lambda: False)()
        self.bar = None
        if live and tqdm is not None:
            self.bar = tqdm(
                total=epochs, initial=first_epoch, unit="epoch", file=self.stream, dynamic_ncols=True
            )
        self.last = time.perf_counter()
        self.durations = []  # wall time of each epoch reported, callbacks included

    def __call__(self, info):
        done = info["epoch"] + 1
        now = time.perf_counter()
        self.durations.append(now - self.last)
        self.last = now
        if self.bar is not None:
            self.bar.set_postfix_str(_format_metrics(info), refresh=False)
            self.bar.update(1)
            return False
        width = len(str(self.epochs))
        line = f"epoch {done:>{width}}/{self.epochs}  {_format_metrics(info)}"
        self.durations[-1] -= info.get("compile_seconds", 0.0)
        if len(self.durations) > 1:  # the first epoch may include loading the kernels: leave it out
            later = self.durations[1:]
            line += f"  {sum(later) / len(later) * (self.epochs - done):.1f} s left"
        print(line, file=self.stream, flush=True)
        return False

    def close(self):
        if self.bar is not None:
            self.bar.close()
