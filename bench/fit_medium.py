"""One epoch of a 784-256-128-10 network on 16,384 random rows (batch 128, Adam), fastbp and PyTorch.

Both run in this process, one after the other, after a warm-up epoch each, on
the same data and thread count.  Prints samples/s and GFLOP/s (about
6 x parameters FLOPs per training sample) for each, and their ratio.

Run: python bench/fit_medium.py [--repeats 5]
"""

import argparse
import time

import numpy as np

import fastbp

SIZES = [784, 256, 128, 10]
ROWS, BATCH = 16_384, 128


def fastbp_epoch_seconds(X, y, repeats):
    net = fastbp.MLP(SIZES, activation="relu", loss="cross_entropy", seed=0)
    opt = fastbp.Adam(lr=1e-3)
    net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=opt)  # warm-up: compile or load the cache
    times = []
    for _ in range(repeats):
        hist = net.fit(X, y, epochs=1, batch_size=BATCH, optimizer=opt)
        times.append(hist.seconds[0])
    return min(times), net.n_params


def torch_epoch_seconds(X, y, repeats):
    import torch

    Xt, yt = torch.from_numpy(X), torch.from_numpy(y)
    layers = []
    for i in range(len(SIZES) - 1):
        layers.append(torch.nn.Linear(SIZES[i], SIZES[i + 1]))
        if i < len(SIZES) - 2:
            layers.append(torch.nn.ReLU())
    model = torch.nn.Sequential(*layers)
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_fn = torch.nn.CrossEntropyLoss()

    def epoch():
        perm = torch.randperm(ROWS)
        for start in range(0, ROWS, BATCH):
            idx = perm[start : start + BATCH]
            opt.zero_grad()
            loss_fn(model(Xt[idx]), yt[idx]).backward()
            opt.step()

    epoch()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        epoch()
        times.append(time.perf_counter() - start)
    return min(times), torch.get_num_threads()


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    X = rng.normal(size=(ROWS, SIZES[0])).astype(np.float32)
    y = rng.integers(0, SIZES[-1], size=ROWS)
    seconds, n_params = fastbp_epoch_seconds(X, y, args.repeats)
    flops = 6.0 * n_params * ROWS
    rows = [("fastbp", seconds)]
    try:
        t_seconds, threads = torch_epoch_seconds(X, y, args.repeats)
        rows.append((f"torch ({threads} threads)", t_seconds))
    except ImportError:
        print("PyTorch is not installed: skipped (pip install torch==2.13.0)")
    print(
        f"{SIZES}, {n_params:,} parameters, {ROWS:,} rows, batch {BATCH}, Adam; best of {args.repeats} epochs"
    )
    for name, s in rows:
        print(
            f"{name:>20}: {ROWS / s:>10,.0f} samples/s  {flops / s / 1e9:6.1f} GFLOP/s"
            f"  {s * 1e3:8.1f} ms/epoch"
        )
    if len(rows) == 2:
        print(f"fastbp / torch: {rows[1][1] / rows[0][1]:.2f}x")


if __name__ == "__main__":
    main()
