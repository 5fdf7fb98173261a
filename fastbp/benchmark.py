"""Training throughput of fastbp against its peers at their best, on one grid, side by side.

Every framework trains the same networks (float32, Adam lr 1e-3, shuffled
mini-batches) for one epoch after a warm-up epoch, in this one process, with
the peers set up as a user who cares about speed sets them up:

- JAX: the whole epoch in one ``jax.jit``, a ``lax.scan`` over the batches;
- PyTorch eager: ``Adam(fused=True)``, at its faster thread count (1 or the
  run's count, chosen by a short run of each and named in the table);
- ``torch.compile`` on the model and the optimizer step;
- scikit-learn's ``MLPClassifier``/``MLPRegressor`` (``partial_fit``).

fastbp and the other peers use the run's thread count.  A peer that is not
installed is skipped, and the run says so.  FLOPs per training sample are
taken as 6 x parameters (forward 2, backward 4), and the percentage is of
the float32 matrix-product peak that numpy reaches on this machine, measured
first.

Run: fastbp bench (or python bench/compare.py) [--repeats 3] [--json out.json] [--plot out.png]
     [--only tiny,small] [--peers jax,torch,torch.compile,sklearn]
"""

import json
import os
import platform
import sys
import time
from datetime import date

import numpy as np

import fastbp

from .argparsing import OneLineErrorParser

GRID = [
    {"name": "tiny", "sizes": [10, 5, 1], "activation": "relu", "batch": 32, "rows": 32_768, "loss": "mse"},
    {
        "name": "small",
        "sizes": [64, 64, 64, 10],
        "activation": "relu",
        "batch": 64,
        "rows": 32_768,
        "loss": "cross_entropy",
    },
    {
        "name": "medium",
        "sizes": [784, 256, 128, 10],
        "activation": "relu",
        "batch": 128,
        "rows": 16_384,
        "loss": "cross_entropy",
    },
    {
        "name": "large",
        "sizes": [784, 1024, 1024, 10],
        "activation": "relu",
        "batch": 256,
        "rows": 8_192,
        "loss": "cross_entropy",
    },
    {
        "name": "chains",
        "sizes": [4, 32, 16, 4],
        "activation": "tanh",
        "batch": 10_000,
        "rows": 10_000,
        "loss": "mse",
    },
]
PEERS = ["jax", "torch", "torch.compile", "sklearn"]


def n_params(sizes):
    return sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))


def make_data(case, seed=0):
    rng = np.random.default_rng(seed)
    sizes = case["sizes"]
    X = rng.normal(size=(case["rows"], sizes[0])).astype(np.float32)
    if case["loss"] == "cross_entropy":
        y = rng.integers(0, sizes[-1], size=case["rows"])
    else:
        y = rng.normal(size=(case["rows"], sizes[-1])).astype(np.float32)
    return X, y


def sgemm_peak(n=2048, repeats=5):
    """GFLOP/s of numpy's float32 matrix product at n x n."""
    a = np.random.default_rng(0).normal(size=(n, n)).astype(np.float32)
    out = np.empty_like(a)
    np.dot(a, a, out=out)
    best = min(_timed(lambda: np.dot(a, a, out=out)) for _ in range(repeats))
    return 2.0 * n**3 / best / 1e9


# Thread pools busy-wait for a while after their work before they sleep
# (OpenBLAS, OpenMP, XLA).  On 2 cores the next framework's run shared the CPU
# with them: fastbp's medium epoch measured 77.7k samples/s taking turns
# with the others and 126.7k in a run of its own.  So each timed run comes
# after a pause, which lets the other frameworks' threads sleep, and then one
# untimed run of its own, which wakes its own threads (a pause alone made the
# shortest runs, a 2 ms chains epoch or a one-row predict, pay for waking them).
PAUSE_SECONDS = 0.25


def _timed(fn):
    time.sleep(PAUSE_SECONDS)
    fn()
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


# ---------------------------------------------------------------- frameworks
def fastbp_epoch(case, X, y, threads):
    net = fastbp.MLP(case["sizes"], activation=case["activation"], loss=case["loss"], seed=0)
    opt = fastbp.Adam(lr=1e-3)

    def epoch():
        # n_threads sets fastbp's own threads; the BLAS that numba calls keeps its own pool,
        # which main (not fastbp) limits to the same count, as it does for scikit-learn
        net.fit(X, y, epochs=1, batch_size=case["batch"], optimizer=opt, n_threads=threads)

    return epoch


def _blas_threads(threads):
    """Limit every BLAS and OpenMP pool in the process to ``threads`` (threadpoolctl) below the core count."""
    import contextlib

    if threads >= (os.cpu_count() or 1):
        return contextlib.nullcontext()
    from threadpoolctl import threadpool_limits

    return threadpool_limits(threads)


def _torch_model(case):
    import torch

    sizes = case["sizes"]
    act = {"relu": torch.nn.ReLU, "tanh": torch.nn.Tanh}[case["activation"]]
    layers = []
    for i in range(len(sizes) - 1):
        layers.append(torch.nn.Linear(sizes[i], sizes[i + 1]))
        if i < len(sizes) - 2:
            layers.append(act())
    model = torch.nn.Sequential(*layers)
    loss_fn = torch.nn.CrossEntropyLoss() if case["loss"] == "cross_entropy" else torch.nn.MSELoss()
    return model, loss_fn


def _torch_epoch(case, X, y, threads, compiled):
    """One epoch of PyTorch as a user who cares about speed writes it.

    Eager: ``Adam(fused=True)``, one fused kernel for the whole update.
    Compiled: ``torch.compile`` on the model and on the optimizer step (the
    recipe of PyTorch's "compiling the optimizer" tutorial; the compiled
    step generates its own fused loop, so it takes the default Adam).
    """
    import torch

    model, loss_fn = _torch_model(case)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3, fused=not compiled)
    forward = torch.compile(model) if compiled else model
    step = torch.compile(opt.step, fullgraph=False) if compiled else opt.step
    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    batch, rows = case["batch"], len(X)

    def epoch():
        torch.set_num_threads(threads)  # each run sets its own: the runners share torch's one setting
        perm = torch.randperm(rows)
        for start in range(0, rows, batch):
            idx = perm[start : start + batch]
            opt.zero_grad(set_to_none=True)
            loss_fn(forward(Xt[idx]), yt[idx]).backward()
            step()

    return epoch


def _best_threads(make, threads, rounds=3):
    """``make(t)`` for the thread count t in 1..threads whose epoch runs fastest (best of ``rounds``)."""
    counts = sorted({1, threads})
    runs = {t: make(t) for t in counts}
    for run in runs.values():
        run()
    best = {t: min(_timed(run) for _ in range(rounds)) for t, run in runs.items()}
    chosen = min(best, key=best.get)
    runs[chosen].threads = chosen
    return runs[chosen]


def torch_epoch(case, X, y, threads):
    """PyTorch eager with fused Adam, at its best thread count up to ``threads`` (chosen by a short run)."""
    return _best_threads(lambda t: _torch_epoch(case, X, y, t, compiled=False), threads)


def torch_compile_epoch(case, X, y, threads):
    return _torch_epoch(case, X, y, threads, compiled=True)


def _jax_training(case, threads):
    """A scanned JAX epoch of Adam (torch.optim.Adam's rule), the parameters and Adam's state as the carry:
    ``(jax, init(key) -> carry, epoch(carry, order, X, y) -> carry, full_batch(carry, X, y) -> carry)``."""
    if threads < (os.cpu_count() or 1) and "jax" not in sys.modules:
        # XLA reads its thread settings once, when jax is first imported
        os.environ.setdefault(
            "XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
        )
    import jax
    import jax.numpy as jnp

    sizes = case["sizes"]
    act = {"relu": jax.nn.relu, "tanh": jnp.tanh}[case["activation"]]

    def init(key):
        params = []
        for a, b in zip(sizes[:-1], sizes[1:]):
            key, sub = jax.random.split(key)
            params.append(
                (jax.random.normal(sub, (a, b), jnp.float32) * np.sqrt(2.0 / a), jnp.zeros(b, jnp.float32))
            )
        zeros = jax.tree_util.tree_map(jnp.zeros_like, params)
        return (params, zeros, zeros, jnp.float32(0))

    def loss_fn(p, xb, yb):
        h = xb
        for w, b in p[:-1]:
            h = act(h @ w + b)
        out = h @ p[-1][0] + p[-1][1]
        if case["loss"] == "cross_entropy":
            logp = jax.nn.log_softmax(out)
            return -jnp.mean(jnp.take_along_axis(logp, yb[:, None], axis=1))
        return jnp.mean((out - yb) ** 2)

    def adam_step(carry, idx, Xall, yall):
        p, m, v, t = carry
        g = jax.grad(loss_fn)(p, Xall[idx], yall[idx])
        t = t + 1
        m = jax.tree_util.tree_map(lambda m_, g_: 0.9 * m_ + 0.1 * g_, m, g)
        v = jax.tree_util.tree_map(lambda v_, g_: 0.999 * v_ + 0.001 * g_ * g_, v, g)
        c1, c2 = 1 - 0.9**t, 1 - 0.999**t
        p = jax.tree_util.tree_map(
            lambda p_, m_, v_: p_ - 1e-3 * (m_ / c1) / (jnp.sqrt(v_ / c2) + 1e-8), p, m, v
        )
        return (p, m, v, t), None

    def train_epoch(carry, order, Xall, yall):
        carry, _ = jax.lax.scan(lambda c, idx: adam_step(c, idx, Xall, yall), carry, order)
        return carry

    def train_full_batch(carry, Xall, yall):
        return adam_step(carry, slice(None), Xall, yall)[0]

    return jax, init, train_epoch, train_full_batch


def _whole_batches(case, rows):
    if rows % case["batch"]:
        raise ValueError("the scanned JAX epoch needs the rows to split into whole batches")
    return rows // case["batch"]


def jax_epoch(case, X, y, threads):
    """JAX with the whole epoch in one ``jax.jit``: ``lax.scan`` over the batches, with the
    parameters and Adam's state as the carry (torch.optim.Adam's rule) and the shuffle inside."""
    batch, rows = case["batch"], len(X)
    n_batches = _whole_batches(case, rows)
    jax, init, train_epoch, train_full_batch = _jax_training(case, threads)
    train_epoch, train_full_batch = jax.jit(train_epoch), jax.jit(train_full_batch)
    state = {"carry": init(jax.random.PRNGKey(0))}
    Xd, yd = jax.numpy.asarray(X), jax.numpy.asarray(y)
    rng = np.random.default_rng(1)

    def epoch():
        # The fastest shuffle measured: numpy's permutation handed in (jax.random.permutation in the
        # jit took 4 ms of a 5 ms chains epoch).  A batch of every row needs none: its mean gradient
        # does not depend on the order (chains: 8.0M samples/s without, 2.1M with it in the jit).
        if batch == rows:
            state["carry"] = jax.block_until_ready(train_full_batch(state["carry"], Xd, yd))
            return
        order = jax.numpy.asarray(rng.permutation(rows).reshape(n_batches, batch))
        state["carry"] = jax.block_until_ready(train_epoch(state["carry"], order, Xd, yd))

    epoch.state = state  # (parameters, Adam's moments, step count), for the tests
    return epoch


def jax_vmap_epochs(case, X, y, threads, networks):
    """``networks`` networks of one architecture, each with its own initialisation and shuffle, trained
    one epoch each by ``jax.vmap`` over the scanned epoch of ``jax_epoch``, in one ``jax.jit``."""
    batch, rows = case["batch"], len(X)
    n_batches = _whole_batches(case, rows)
    jax, init, train_epoch, _ = _jax_training(case, threads)
    many = jax.jit(jax.vmap(train_epoch, in_axes=(0, 0, None, None)))
    state = {"carry": jax.vmap(init)(jax.random.split(jax.random.PRNGKey(0), networks))}
    Xd, yd = jax.numpy.asarray(X), jax.numpy.asarray(y)
    rng = np.random.default_rng(1)

    def epochs():
        orders = np.stack([rng.permutation(rows).reshape(n_batches, batch) for _ in range(networks)])
        state["carry"] = jax.block_until_ready(many(state["carry"], jax.numpy.asarray(orders), Xd, yd))

    epochs.state = state
    return epochs


def sklearn_epoch(case, X, y, threads):
    import warnings

    from sklearn.neural_network import MLPClassifier, MLPRegressor

    common = {
        "hidden_layer_sizes": tuple(case["sizes"][1:-1]),
        "activation": case["activation"],
        "solver": "adam",
        "alpha": 0.0,
        "batch_size": case["batch"],
        "learning_rate_init": 1e-3,
        "shuffle": True,
        "random_state": 0,
    }
    classify = case["loss"] == "cross_entropy"
    model = MLPClassifier(**common) if classify else MLPRegressor(**common)
    kwargs = {"classes": np.arange(case["sizes"][-1])} if classify else {}

    def epoch():
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            model.partial_fit(X, y, **kwargs)

    return epoch


RUNNERS = {
    "fastbp": fastbp_epoch,
    "jax": jax_epoch,
    "torch": torch_epoch,
    "torch.compile": torch_compile_epoch,
    "sklearn": sklearn_epoch,
}


def available(name):
    module = {"torch": "torch", "torch.compile": "torch", "jax": "jax", "sklearn": "sklearn"}.get(name)
    if module is None:
        return True
    try:
        __import__(module)
        return True
    except ImportError:
        return False


# ---------------------------------------------------------------- report
def measure(cases, frameworks, threads, repeats):
    """Best epoch time of each framework on each case, as samples/s.

    Within a case the frameworks take turns, one timed epoch each per round,
    so a slow spell on this shared machine hits all of them alike.
    """
    results = {}
    for case in cases:
        X, y = make_data(case)
        runs = {name: RUNNERS[name](case, X, y, threads) for name in frameworks}
        for run in runs.values():
            run()  # warm-up: compilation, caches, allocator
        best = dict.fromkeys(runs, float("inf"))
        for _ in range(repeats):
            for name, run in runs.items():
                best[name] = min(best[name], _timed(run))
        for name in frameworks:
            results[(case["name"], name)] = len(X) / best[name]
            chosen = getattr(runs[name], "threads", None)
            note = f" (best at {chosen} thread{'s' * (chosen != 1)})" if chosen else ""
            print(
                f"  {case['name']:>7} {name:>13}: {len(X) / best[name]:>12,.0f} samples/s{note}", flush=True
            )
            if chosen:
                THREADS_CHOSEN[(case["name"], name)] = chosen
    return results


THREADS_CHOSEN = {}  # (case, peer) -> the thread count a peer run at its best thread count chose


# fit_many's case: sixteen networks of the small grid case, one epoch each on the same 8,192 rows
MANY = {"name": "many", "sizes": [64, 64, 64, 10], "activation": "relu", "batch": 64, "rows": 8_192,
        "loss": "cross_entropy", "networks": 16}  # fmt: skip


def measure_many(threads, repeats, case=MANY):
    """Samples/s (networks x rows per second) of one epoch of ``case["networks"]`` networks:
    ``fastbp.fit_many``, a loop of ``fit`` calls, and ``jax.vmap`` over the scanned epoch when installed."""
    X, y = make_data(case)
    k = case["networks"]
    nets = [
        fastbp.MLP(case["sizes"], activation=case["activation"], loss=case["loss"], seed=s) for s in range(k)
    ]
    optimizers = [fastbp.Adam(lr=1e-3) for _ in range(k)]
    fit = {"epochs": 1, "batch_size": case["batch"]}
    runs = {
        "fastbp fit_many": lambda: fastbp.fit_many(nets, X, y, optimizer=optimizers, n_threads=threads,
                                                   **fit),
        "fastbp fit loop": lambda: [net.fit(X, y, optimizer=o, n_threads=threads, **fit)
                                    for net, o in zip(nets, optimizers)],
    }  # fmt: skip
    if available("jax"):
        runs["jax vmap"] = jax_vmap_epochs(case, X, y, threads, k)
    for run in runs.values():
        run()
    best = dict.fromkeys(runs, float("inf"))
    for _ in range(repeats):
        for name, run in runs.items():
            best[name] = min(best[name], _timed(run))
    return {name: k * len(X) / seconds for name, seconds in best.items()}


def measure_predict(threads, repeats, rows=100_000):
    """Rows/s of predict on the medium network for ``rows`` rows, and one-row latency: fastbp, PyTorch
    (``inference_mode``) and JAX (jitted), each peer that is installed."""
    case = next(c for c in GRID if c["name"] == "medium")
    X = make_data({**case, "rows": rows})[0]
    net = fastbp.MLP(case["sizes"], activation="relu", loss="cross_entropy", seed=0)
    one = X[:1].copy()
    calls = {"fastbp": (lambda: net.predict(X, n_threads=threads), lambda: net.predict(one))}
    try:
        import torch

        torch.set_num_threads(threads)
        model = torch.nn.Sequential(torch.nn.Linear(784, 256), torch.nn.ReLU(), torch.nn.Linear(256, 128),
                                    torch.nn.ReLU(), torch.nn.Linear(128, 10))  # fmt: skip
        Xt, onet = torch.from_numpy(X), torch.from_numpy(one)

        def torch_many():
            with torch.inference_mode():
                return torch.softmax(model(Xt), dim=1)

        def torch_one():
            with torch.inference_mode():
                return torch.softmax(model(onet), dim=1)

        calls["torch"] = (torch_many, torch_one)
    except ImportError:
        pass
    try:
        calls["jax"] = _jax_predict(case["sizes"], X, one)
    except ImportError:
        pass
    out = {}
    for name, (many, single) in calls.items():
        many()
        best_many = min(_timed(many) for _ in range(repeats))
        for _ in range(100):
            single()
        best_single = min(_timed(lambda f=single: [f() for _ in range(200)]) / 200 for _ in range(repeats))
        out[name] = {"rows_per_second": rows / best_many, "single_row_microseconds": best_single * 1e6}
    return out


def _jax_predict(sizes, X, one):
    """(many rows, one row) calls of a jitted JAX forward pass with softmax, inputs already on the device."""
    import jax
    import jax.numpy as jnp

    rng = np.random.default_rng(0)
    params = [(jnp.asarray(rng.normal(size=(a, b)).astype(np.float32) * np.sqrt(2.0 / a)),
               jnp.zeros(b, jnp.float32)) for a, b in zip(sizes[:-1], sizes[1:])]  # fmt: skip

    @jax.jit
    def forward(p, x):
        for w, b in p[:-1]:
            x = jax.nn.relu(x @ w + b)
        return jax.nn.softmax(x @ p[-1][0] + p[-1][1], axis=1)

    Xd, oned = jnp.asarray(X), jnp.asarray(one)
    return (
        lambda: forward(params, Xd).block_until_ready(),
        lambda: forward(params, oned).block_until_ready(),
    )


def measure_startup():
    """Wall time of a new process that imports fastbp, fits the small network once and predicts with it,
    with numba's cache empty (cold) and filled (warm)."""
    import subprocess
    import sys
    import tempfile

    code = (
        "import numpy as np, fastbp; rng = np.random.default_rng(0); "
        "X = rng.normal(size=(32768, 64)).astype(np.float32); y = rng.integers(0, 10, 32768); "
        "net = fastbp.MLP([64, 64, 64, 10], loss='cross_entropy'); net.fit(X, y, epochs=1, batch_size=64); "
        "net.predict(X)"
    )
    times = {}
    with tempfile.TemporaryDirectory() as cache:
        env = {**os.environ, "NUMBA_CACHE_DIR": cache}  # an empty cache: the first run compiles
        for label in ("cold", "warm", "warm again"):
            start = time.perf_counter()
            subprocess.run([sys.executable, "-c", code], env=env, check=True)
            times[label] = time.perf_counter() - start
    return {"cold_seconds": times["cold"], "warm_seconds": min(times["warm"], times["warm again"])}


def table(cases, frameworks, results, peak):
    """The Markdown table: fastbp's rate, GFLOP/s and share of the sgemm peak, each peer's rate,
    and fastbp against the best peer of each case."""
    peers = [f for f in frameworks if f != "fastbp"]
    head = "| case | layers | batch | fastbp samples/s | GFLOP/s | % of sgemm peak |"
    head += "".join(f" {p} |" for p in peers)
    if peers:
        head += " best peer | fastbp / best peer |"
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for case in cases:
        rate = results[(case["name"], "fastbp")]
        gflops = 6.0 * n_params(case["sizes"]) * rate / 1e9
        row = (
            f"| {case['name']} | {'-'.join(map(str, case['sizes']))} | {case['batch']:,} | {rate:,.0f} "
            f"| {gflops:.1f} | {100 * gflops / peak:.0f}% |"
        )
        for p in peers:
            chosen = THREADS_CHOSEN.get((case["name"], p))
            row += f" {results[(case['name'], p)]:,.0f}{f' ({chosen}t)' if chosen else ''} |"
        if peers:
            best = max(peers, key=lambda p: results[(case["name"], p)])
            row += f" {best} | {rate / results[(case['name'], best)]:.2f}x |"
        lines.append(row)
    return "\n".join(lines)


def plot(cases, frameworks, results, path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 4.5))
    width = 0.8 / len(frameworks)
    for i, name in enumerate(frameworks):
        values = [results[(c["name"], name)] for c in cases]
        ax.bar(np.arange(len(cases)) + i * width, values, width, label=name)
    ax.set_xticks(np.arange(len(cases)) + width * (len(frameworks) - 1) / 2)
    ax.set_xticklabels([f"{c['name']}\n{'-'.join(map(str, c['sizes']))}" for c in cases])
    ax.set_yscale("log")
    ax.set_ylabel("training samples / s (log scale)")
    ax.set_title(f"One epoch, float32, Adam, {os.cpu_count()} cores")
    ax.legend()
    fig.tight_layout()
    fig.savefig(path, dpi=120)


def main(argv=None, prog=None):
    parser = OneLineErrorParser(prog=prog, description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3, help="timed epochs per run; the best counts")
    parser.add_argument("--threads", type=int, default=os.cpu_count(), help="threads for every framework")
    parser.add_argument("--only", help="comma-separated case names")
    parser.add_argument("--peers", default=",".join(PEERS), help="comma-separated peers to run")
    parser.add_argument("--json", help="write the results as JSON here")
    parser.add_argument("--plot", help="write a bar chart (PNG) here; needs matplotlib")
    parser.add_argument(
        "--no-extras", action="store_true", help="skip the predict, start-up and many-networks measurements"
    )
    args = parser.parse_args(argv)

    names = [c["name"] for c in GRID]
    unknown = [name for name in (args.only or "").split(",") if name and name not in names]
    if unknown:
        parser.error(f"unknown case {unknown[0]!r}; the grid has {', '.join(names)}")
    cases = [c for c in GRID if not args.only or c["name"] in args.only.split(",")]
    frameworks = ["fastbp"]
    for peer in [p for p in args.peers.split(",") if p]:
        if available(peer):
            frameworks.append(peer)
        else:
            print(f"{peer} is not installed: skipped (pip install -e '.[bench]')")
    # the BLAS limit is set once for the whole run: entering it costs milliseconds,
    # as much as a whole tiny epoch
    with _blas_threads(args.threads):
        return _run(args, cases, frameworks)


def _run(args, cases, frameworks):
    peak = sgemm_peak()
    print(
        f"numpy float32 matrix-product peak: {peak:.0f} GFLOP/s; {args.threads} threads; "
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores"
    )
    results = measure(cases, frameworks, args.threads, args.repeats)
    print()
    print(f"Measured {date.today().isoformat()}, {os.cpu_count()} cores, {args.threads} threads each, "
          f"float32, one epoch after a warm-up, best of {args.repeats}.")  # fmt: skip
    print()
    print(table(cases, frameworks, results, peak))
    extras = {}
    if not args.no_extras:
        extras["predict"] = measure_predict(args.threads, args.repeats)
        extras["startup"] = measure_startup()
        extras["many"] = measure_many(args.threads, args.repeats)
        print()
        for name, p in extras["predict"].items():
            print(f"predict, medium network, {name}: {p['rows_per_second']:,.0f} rows/s on 100,000 rows; "
                  f"one row {p['single_row_microseconds']:.1f} us")  # fmt: skip
        many = extras["many"]
        print(f"{MANY['networks']} networks of {'-'.join(map(str, MANY['sizes']))}, batch {MANY['batch']}, "
              f"{MANY['rows']:,} rows, one epoch each:")  # fmt: skip
        for name, rate in many.items():
            print(f"  {name}: {rate:,.0f} samples/s ({rate / many['fastbp fit_many']:.2f}x fit_many)")
        start = extras["startup"]
        print(f"start-up (new process: import, fit small once, predict): {start['warm_seconds']:.2f} s "
              f"with numba's cache warm, {start['cold_seconds']:.1f} s cold (first compile)")  # fmt: skip
    if args.json:
        payload = {
            "date": date.today().isoformat(),
            "cores": os.cpu_count(),
            "threads": args.threads,
            "sgemm_peak_gflops": peak,
            "cases": cases,
            "samples_per_second": {f"{c}/{f}": v for (c, f), v in results.items()},
            "peer_threads_chosen": {f"{c}/{f}": t for (c, f), t in THREADS_CHOSEN.items()},
            **extras,
        }
        with open(args.json, "w") as f:
            json.dump(payload, f, indent=2)
    if args.plot:
        plot(cases, frameworks, results, args.plot)
    return results


if __name__ == "__main__":
    main()
