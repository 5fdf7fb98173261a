"""pytest-benchmark timings of fit and predict (run: pytest bench --benchmark-enable)."""

import numpy as np
import pytest

import fastbp

CASES = {
    "tiny": ([10, 5, 1], "mse", 32),
    "small": ([64, 64, 64, 10], "cross_entropy", 64),
    "medium": ([784, 256, 128, 10], "cross_entropy", 128),
}


def _data(sizes, loss, rows=4096):
    rng = np.random.default_rng(0)
    X = rng.normal(size=(rows, sizes[0])).astype(np.float32)
    y = (
        rng.integers(0, sizes[-1], size=rows)
        if loss == "cross_entropy"
        else rng.normal(size=rows).astype(np.float32)
    )
    return X, y


@pytest.mark.parametrize("name", CASES)
def test_fit_epoch(benchmark, name):
    sizes, loss, batch = CASES[name]
    X, y = _data(sizes, loss)
    net = fastbp.MLP(sizes, loss=loss, seed=0)
    opt = fastbp.Adam()
    net.fit(X, y, epochs=1, batch_size=batch, optimizer=opt)
    benchmark(net.fit, X, y, epochs=1, batch_size=batch, optimizer=opt)
    benchmark.extra_info["samples_per_epoch"] = len(X)
    assert np.isfinite(net.params).all()


@pytest.mark.parametrize("name", CASES)
def test_predict(benchmark, name):
    sizes, loss, _ = CASES[name]
    X, _ = _data(sizes, loss)
    net = fastbp.MLP(sizes, loss=loss, seed=0)
    out = benchmark(net.predict, X)
    assert out.shape == (len(X), sizes[-1])
