"""The comparison benchmark's peers and its table (no timing is asserted)."""

import numpy as np
import pytest

from fastbp import benchmark

TINY = {**benchmark.GRID[0], "rows": 256}


def test_table_names_the_best_peer_of_each_case_and_its_thread_count(monkeypatch):
    monkeypatch.setattr(benchmark, "THREADS_CHOSEN", {("tiny", "torch"): 1})
    results = {("tiny", "fastbp"): 4e6, ("tiny", "torch"): 1e6, ("tiny", "jax"): 2e6}
    text = benchmark.table([benchmark.GRID[0]], ["fastbp", "jax", "torch"], results, peak=100.0)
    head, _, row = text.splitlines()
    assert head.endswith("| jax | torch | best peer | fastbp / best peer |")
    assert row.endswith("| 2,000,000 | 1,000,000 (1t) | jax | 2.00x |")
    gflops = 6 * benchmark.n_params(TINY["sizes"]) * 4e6 / 1e9
    assert f"| {gflops:.1f} | {100 * gflops / 100.0:.0f}% |" in row


def test_table_without_peers_has_no_best_peer_column():
    text = benchmark.table([benchmark.GRID[0]], ["fastbp"], {("tiny", "fastbp"): 4e6}, peak=100.0)
    assert "best peer" not in text and "| tiny | 10-5-1 | 32 | 4,000,000 |" in text


def test_torch_eager_runs_at_the_thread_count_it_found_fastest():
    pytest.importorskip("torch")
    X, y = benchmark.make_data(TINY)
    epoch = benchmark.torch_epoch(TINY, X, y, threads=2)
    assert epoch.threads in (1, 2)
    epoch()


def test_the_scanned_jax_epoch_trains():
    pytest.importorskip("jax")
    X, y = benchmark.make_data(TINY)
    epoch = benchmark.jax_epoch(TINY, X, y, threads=2)
    state = epoch.state
    start = [np.asarray(w) for w, _ in state["carry"][0]]
    epoch()
    after = [np.asarray(w) for w, _ in state["carry"][0]]
    assert all(np.isfinite(w).all() for w in after)
    assert any(not np.array_equal(a, b) for a, b in zip(start, after))
    assert float(state["carry"][3]) == TINY["rows"] // TINY["batch"]  # one Adam step per batch


def test_the_scanned_jax_epoch_refuses_a_partial_last_batch():
    pytest.importorskip("jax")
    case = {**TINY, "rows": 250}
    X, y = benchmark.make_data(case)
    with pytest.raises(ValueError, match="whole batches"):
        benchmark.jax_epoch(case, X, y, threads=2)
