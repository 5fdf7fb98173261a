"""Measure fastbp's training throughput on a few network shapes (samples/s and GFLOP/s).

The full comparison with PyTorch, JAX and scikit-learn is ``fastbp bench``.

    python examples/throughput.py
"""

import time

import numpy as np

import fastbp

SHAPES = [([10, 5, 1], 32, "mse"), ([64, 64, 64, 10], 64, "cross_entropy"), ([4, 32, 16, 4], 1000, "mse")]


def main(rows=16_384, repeats=3):
    rng = np.random.default_rng(0)
    results = {}
    for sizes, batch, loss in SHAPES:
        X = rng.normal(size=(rows, sizes[0])).astype(np.float32)
        if loss == "cross_entropy":
            y = rng.integers(0, sizes[-1], rows)
        else:
            y = rng.normal(size=(rows, sizes[-1])).astype(np.float32)
        net = fastbp.MLP(sizes, loss=loss, seed=0)
        optimizer = fastbp.Adam()
        net.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer)  # warm-up (compiles, the first time)
        best = float("inf")
        for _ in range(repeats):
            start = time.perf_counter()
            net.fit(X, y, epochs=1, batch_size=batch, optimizer=optimizer)
            best = min(best, time.perf_counter() - start)
        rate = rows / best
        shape = "-".join(map(str, sizes))
        results[shape] = rate
        gflops = 6 * net.n_params * rate / 1e9
        print(f"{shape:>14}  batch {batch:>5}  {rate:>12,.0f} samples/s  {gflops:6.1f} GFLOP/s")
    return results


if __name__ == "__main__":
    main()
