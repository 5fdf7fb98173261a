"""pytest-benchmark timings of fit and predict on the benchmark grid.

Run: pytest bench --benchmark-enable   (the unit tests never time anything)

Each benchmark first checks the result is sane (finite weights, the right
shape), then times one epoch (fit) or 4,096 rows (predict).  Throughput
in samples/s and GFLOP/s is in ``extra_info``.  Without ``--benchmark-enable``
(the project's default) each runs once, untimed, as a smoke test.
"""

import numpy as np
import pytest
from compare import GRID, make_data, n_params

import fastbp


def _timed(benchmark):
    return benchmark.stats is not None  # None when timing is disabled


@pytest.mark.parametrize("case", GRID, ids=[c["name"] for c in GRID])
def test_fit_epoch(benchmark, case):
    X, y = make_data(case)
    net = fastbp.MLP(case["sizes"], activation=case["activation"], loss=case["loss"], seed=0)
    opt = fastbp.Adam()
    hist = net.fit(X, y, epochs=1, batch_size=case["batch"], optimizer=opt)  # warm-up
    assert np.isfinite(hist.loss[0])
    kwargs = {"epochs": 1, "batch_size": case["batch"], "optimizer": opt}
    benchmark.pedantic(net.fit, args=(X, y), kwargs=kwargs, rounds=3, iterations=1)
    assert np.isfinite(net.params).all()
    if _timed(benchmark):
        rate = len(X) / benchmark.stats.stats.min
        benchmark.extra_info.update(samples_per_second=rate, gflops=6 * n_params(case["sizes"]) * rate / 1e9)


@pytest.mark.parametrize("case", GRID, ids=[c["name"] for c in GRID])
def test_predict(benchmark, case):
    X, _ = make_data({**case, "rows": 4096})
    net = fastbp.MLP(case["sizes"], activation=case["activation"], loss=case["loss"], seed=0)
    out = benchmark(net.predict, X)
    assert out.shape == (len(X), case["sizes"][-1]) and np.isfinite(out).all()
    if _timed(benchmark):
        benchmark.extra_info["rows_per_second"] = len(X) / benchmark.stats.stats.min


def test_predict_one_row(benchmark):
    case = next(c for c in GRID if c["name"] == "medium")
    net = fastbp.MLP(case["sizes"], loss="cross_entropy", seed=0)
    row = make_data({**case, "rows": 1})[0]
    out = benchmark(net.predict, row)
    np.testing.assert_allclose(out.sum(), 1.0, rtol=1e-5)
