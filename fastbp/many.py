"""``fastbp.fit_many``: many networks trained in one call, each network owned by one thread.

Every network runs the compiled epochs of its own ``fit`` (numba's kernels
release the GIL), so network k ends with the weights that
``nets[k].fit(X[rows[k]], y[rows[k]], ...)`` gives, bit for bit, and nothing
new is compiled.  A kernel with a parallel loop over networks would inline a
whole epoch once more: seconds of compile on a first run, for each family of
networks, where threads over the existing kernels cost none.

Scheduling (``runs_alone``): a network whose own ``fit`` keeps to one core
goes to a pool of ``n_threads`` worker threads, each of which trains whole
networks, the costliest first.  That is a network whose matrix products all
stay on the calling thread in BLAS (``dense.SPLIT_MAX_MNK``), that runs no
parallel chunks (``workspace.chunk_rows_for``) and whose optimizer update is
serial (``PARALLEL_MIN_ELEMENTS``).  A network whose ``fit`` already spreads
over the cores (wide layers with threaded BLAS, narrow layers on large
batches in parallel chunks) trains alone on the calling thread, with every
thread, before the pool starts: two of them side by side would only fight
over the cores, and numba's workqueue threading layer does not allow two
parallel regions at once.  The choice depends on the network and its batch
size only, never on the thread count, so the results are the same for any
``n_threads``.
"""

import copy
import os
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import numpy as np

from . import validation
from ._jit import PARALLEL_MIN_ELEMENTS
from .kernels.dense import SPLIT_MAX_MNK
from .optimizers import Optimizer, get_optimizer
from .schedules import Schedule
from .sequential import Sequential
from .threads import check_threads, get_num_threads
from .workspace import chunk_rows_for


def uses_blas_threads(net, rows):
    """True when a serial pass of ``net`` over ``rows`` rows has a product that BLAS runs on its threads."""
    largest = max((a * b for a, b in net.plan.dense_shapes()), default=0)
    return rows * largest > SPLIT_MAX_MNK


def runs_alone(net, batch_rows):
    """True when ``net``'s fit on batches of ``batch_rows`` rows uses more than the calling thread."""
    return (
        chunk_rows_for(net.plan, batch_rows) > 0
        or uses_blas_threads(net, batch_rows)
        or net.n_params >= PARALLEL_MIN_ELEMENTS
    )


@dataclass
class Task:
    """One network's training: ``run()`` trains it; ``alone`` and ``cost`` place it (``run_tasks``)."""

    index: int
    run: object
    alone: bool
    cost: float
    result: object = None
    error: Exception | None = None
    seconds: float = 0.0
    done: list = field(default_factory=list)

    def __call__(self):
        start = time.perf_counter()
        try:
            self.result = self.run()
        except Exception as exc:  # reported, with the network's index, once every task has run
            self.error = exc  # (KeyboardInterrupt and SystemExit are not caught: they stop the run)
        self.seconds = time.perf_counter() - start
        for callback in self.done:
            callback(self)
        return self


def run_tasks(tasks, n_threads):
    """Run the tasks that need the cores alone, one after another, then the rest on ``n_threads``
    worker threads, costliest first; every task runs even when another fails."""
    for task in tasks:
        if task.alone:
            task()
    pooled = sorted((t for t in tasks if not t.alone), key=lambda t: -t.cost)
    if n_threads <= 1 or len(pooled) <= 1:
        for task in pooled:
            task()
        return
    pool = ThreadPoolExecutor(min(n_threads, len(pooled)), thread_name_prefix="fastbp-fit_many")
    try:
        list(pool.map(lambda task: task(), pooled))
    except BaseException:  # Ctrl-C: the networks not yet started never start
        pool.shutdown(wait=True, cancel_futures=True)
        raise
    pool.shutdown(wait=True)


def raise_first_error(tasks, name=lambda index: f"network {index}"):
    """Re-raise the first failed task's error (by index), its message prefixed with ``name(index)``."""
    failed = [t for t in tasks if t.error is not None]
    if not failed:
        return
    task = min(failed, key=lambda t: t.index)
    exc = task.error
    if exc.args and isinstance(exc.args[0], str):
        exc.args = (f"{name(task.index)}: {exc.args[0]}", *exc.args[1:])
    exc.network = task.index
    raise exc


# ---------------------------------------------------------------- options
def _is_per_network(name, value):
    """Whether an option's value is a list with one entry per network (else one value for all)."""
    if not isinstance(value, list):
        return False
    if name == "sample_weight":  # one weight per row of X, or one array (or None) per network
        return all(v is None or np.ndim(v) == 1 for v in value)
    if name == "callbacks":  # callables for every network, or one sequence (or None) per network
        return all(v is None or isinstance(v, (list, tuple)) for v in value)
    return True


def _spread(name, value, n):
    """The option ``name`` as a list of ``n`` values, one per network."""
    if not _is_per_network(name, value):
        if name in ("checkpoint", "resume") and value is not None and n > 1:
            raise ValueError(f"{name}: give a list with one path (or None) per network, not one path for all")
        return [_copied(name, value) for _ in range(n)]
    if len(value) != n:
        raise ValueError(f"{name}: a list of {len(value)} values for {n} networks")
    stateful = [v for v in value if isinstance(v, (Optimizer, Schedule))]
    if len({id(v) for v in stateful}) < len(stateful):
        raise ValueError(f"{name}: the same object twice in the list; each network needs its own")
    if name == "checkpoint":  # two networks writing one file would overwrite each other's checkpoints
        paths = [os.path.abspath(os.fspath(v)) for v in value if v is not None]
        if len(set(paths)) < len(paths):
            raise ValueError(f"{name}: the same path twice in the list; each network needs its own file")
    return list(value)


def _copied(name, value):
    """A network's own copy of one value given for all: optimizers and schedules keep state."""
    if name == "optimizer":
        return copy.deepcopy(value) if isinstance(value, Optimizer) else get_optimizer(value)
    if name == "lr_schedule" and isinstance(value, Schedule):
        return copy.deepcopy(value)
    if name == "callbacks" and value is None:
        return ()
    return value


def _check_rows(rows, n_nets, n):
    """Each network's row indices (int64 arrays), or None for every row."""
    if rows is None:
        return [None] * n_nets
    if not isinstance(rows, (list, tuple)) or len(rows) != n_nets:
        raise ValueError(f"rows: give a list with one index array (or None) per network ({n_nets})")
    checked = []
    for k, r in enumerate(rows):
        if r is None:
            checked.append(None)
            continue
        r = np.asarray(r)
        if r.dtype == bool:
            if r.shape != (n,):
                raise ValueError(f"network {k}: a boolean rows mask must have shape ({n},), got {r.shape}")
            r = np.flatnonzero(r)
        elif r.ndim != 1 or not np.issubdtype(r.dtype, np.integer):
            raise ValueError(f"network {k}: rows must be a 1-D array of row indices or a boolean mask")
        if r.size == 0:
            raise ValueError(f"network {k}: rows selects no row")
        if r.min() < 0 or r.max() >= n:
            raise ValueError(f"network {k}: rows holds indices outside 0..{n - 1}")
        checked.append(r.astype(np.int64, copy=False))
    return checked


def _subset(a, r):
    return a if r is None or a is None else np.asarray(a)[r]


def fit_many(
    nets,
    X,
    y,
    *,
    rows=None,
    epochs=10,
    batch_size=32,
    optimizer=None,
    shuffle=True,
    seed=None,
    validation_data=None,
    lr_schedule=None,
    patience=None,
    min_delta=0.0,
    sample_weight=None,
    callbacks=(),
    clip_norm=None,
    deterministic=False,
    checkpoint=None,
    checkpoint_every=1,
    resume=None,
    n_threads=None,
    verbose=0,
):
    """Train several networks on the same data in one call, each on its own rows and options.

    Network k ends with the weights that ``nets[k].fit(X[rows[k]],
    y[rows[k]], ...)`` with its own options gives, bit for bit, and the
    result does not depend on ``n_threads``.  The networks may differ in
    anything: layers, loss, dtype, optimizer, schedule, seed.

    Parameters
    ----------
    nets : sequence of Sequential (or MLP)
        Trained in place.  Each network may appear once.
    X : array-like of shape (n, n_in)
    y : array-like of shape (n, n_out), or (n,)
    rows : list of K arrays, optional
        Each network's rows of ``X`` and ``y``: int indices (repeats allowed,
        as for bootstrap samples) or a boolean mask of shape (n,); None for
        every row.  Folds of a cross-validation, for example.
    epochs, batch_size, optimizer, shuffle, seed, validation_data, lr_schedule, patience, \
min_delta, sample_weight, callbacks, clip_norm, deterministic, checkpoint, checkpoint_every, resume
        As in ``Sequential.fit``, each either one value for every network or a
        list with one value per network.  One optimizer or schedule object is
        copied for each network (the object itself is left untouched); in a
        list each network gets the object given, as ``fit`` would.
        ``validation_data`` is one pair ``(X_val, y_val)`` or a list of pairs
        (or None).  ``sample_weight`` is one weight per row of ``X`` (each
        network takes those of its rows) or a list of arrays over each
        network's rows.  ``callbacks`` is one sequence for every network, or a
        list of sequences; they run on the worker threads.  ``checkpoint``
        and ``resume`` take a list of paths (or None), one per network.
    n_threads : int, optional
        Worker threads (fastbp's default thread count when None).
    verbose : int, default 0
        1 prints one line when each network finishes.

    Returns
    -------
    list of History
        One per network, in the order of ``nets``.

    Raises
    ------
    ValueError, TypeError
        For bad input, before any network is trained; the message names the
        network (``"network 3: ..."``).
    TrainingDiverged
        When a network diverges: every other network still finishes, and
        the first failure (by index) is raised, naming its network.
    """
    nets = list(nets)
    if not nets:
        raise ValueError("fit_many needs at least one network")
    for k, net in enumerate(nets):
        if not isinstance(net, Sequential):
            raise TypeError(f"network {k}: expected a fastbp Sequential or MLP, got {type(net).__name__}")
    seen = {}
    for k, net in enumerate(nets):
        if id(net) in seen:
            raise ValueError(f"network {k} is network {seen[id(net)]} again; each network may appear once")
        seen[id(net)] = k
    threads = get_num_threads() if n_threads is None else check_threads(n_threads)
    if isinstance(verbose, bool) or not isinstance(verbose, int) or verbose < 0:
        raise ValueError(f"verbose must be an integer >= 0, got {verbose!r}")
    n_rows = np.shape(X)[0] if np.ndim(X) >= 1 else 0
    row_sets = _check_rows(rows, len(nets), n_rows)
    given = {
        "epochs": epochs, "batch_size": batch_size, "optimizer": optimizer, "shuffle": shuffle, "seed": seed,
        "validation_data": validation_data, "lr_schedule": lr_schedule, "patience": patience,
        "min_delta": min_delta, "sample_weight": sample_weight, "callbacks": callbacks,
        "clip_norm": clip_norm, "deterministic": deterministic, "checkpoint": checkpoint,
        "checkpoint_every": checkpoint_every, "resume": resume,
    }  # fmt: skip
    options = {name: _spread(name, value, len(nets)) for name, value in given.items()}
    shared_weights = not _is_per_network("sample_weight", sample_weight)
    per_net = []
    for k in range(len(nets)):
        opts = {name: values[k] for name, values in options.items()}
        if shared_weights:
            opts["sample_weight"] = _subset(opts["sample_weight"], row_sets[k])
        per_net.append(opts)

    tasks = []
    features = {}  # X converted once per dtype, not once per network
    for k, net in enumerate(nets):
        if net.dtype not in features:
            try:
                features[net.dtype] = validation.check_features(X, net.plan.n_in, net.dtype)
            except (ValueError, TypeError) as exc:
                raise type(exc)(f"network {k}: {exc}") from exc
        Xk = features[net.dtype]
        if Xk.shape[1] != net.plan.n_in:
            raise ValueError(
                f"network {k}: X has {Xk.shape[1]} features, the network expects {net.plan.n_in}"
            )
        tasks.append(_network_task(k, net, Xk, y, row_sets[k], per_net[k], threads))
    if verbose:
        for task in tasks:
            task.done.append(_report)
    run_tasks(tasks, threads)
    raise_first_error(tasks)
    return [task.result for task in tasks]


def _network_task(k, net, X, y, r, opts, threads):
    """Check network ``k``'s data and options now, and return the task that trains it."""
    try:
        Xk, yk = _subset(X, r), _subset(y, r)
        net._check_fit(
            Xk, yk, epochs=opts["epochs"], batch_size=opts["batch_size"],
            validation_data=opts["validation_data"], lr_schedule=opts["lr_schedule"],
            patience=opts["patience"], n_threads=None, sample_weight=opts["sample_weight"],
            clip_norm=opts["clip_norm"], checkpoint_every=opts["checkpoint_every"],
        )  # fmt: skip
        if opts["resume"] is None:
            get_optimizer(opts["optimizer"]).check(net.n_params, net.dtype)
        n = len(Xk)
        del Xk, yk  # each network's rows are copied again when it trains: one copy per thread at a time
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"network {k}: {exc}") from exc
    batch_rows = min(validation.check_positive_int("batch_size", opts["batch_size"]), n)
    alone = runs_alone(net, batch_rows)

    def run():
        return net.fit(_subset(X, r), _subset(y, r), n_threads=threads if alone else None, **opts)

    cost = float(opts["epochs"]) * n * net.n_params
    return Task(k, run, alone, cost)


def _report(task):
    history = task.result
    if task.error is not None:
        print(f"network {task.index}: failed: {task.error}", flush=True)
        return
    val = f", val_loss {history.val_loss[-1]:.6g}" if history.val_loss else ""
    print(f"network {task.index}: {len(history.loss)} epochs, loss {history.loss[-1]:.6g}{val} "
          f"({task.seconds:.2f} s)", flush=True)  # fmt: skip


__all__ = ["fit_many", "runs_alone", "uses_blas_threads", "run_tasks", "Task"]
