"""The examples run, and the seed examples give the numbers their documents derive."""

import importlib.util
import pathlib
import subprocess
import sys

import numpy as np
import pytest
import reference as ref

EXAMPLES = pathlib.Path(__file__).resolve().parent.parent / "examples"


def _load(name):
    spec = importlib.util.spec_from_file_location(name, EXAMPLES / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


# examples that need optional extras, and what they import
NEEDS = {
    "dask_cluster.py": ["dask_ml", "distributed"],
    "streaming_partial_fit.py": ["sklearn"],
    "sklearn_pipeline.py": ["sklearn"],
}
# run in-process by a test of their own, which checks their results
OWN_TEST = {"dask_cluster.py"}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in OWN_TEST))
def test_example_runs_as_a_script(script):
    for module in NEEDS.get(script, []):
        pytest.importorskip(module)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip()


def test_seed_pytorch_network_takes_one_textbook_sgd_step():
    out = _load("seed_pytorch_network").main(verbose=False)
    p = out["before"].astype(np.float64)
    ws = [p[:50].reshape(10, 5), p[55:60].reshape(5, 1)]
    bs = [p[50:55], p[60:61]]
    loss, dws, dbs = ref.network_loss_grad(ws, bs, ["relu"], "identity", "mse", out["x"], out["target"])
    flat = np.concatenate([dws[0].ravel(), dbs[0], dws[1].ravel(), dbs[1]])
    assert out["loss"] == pytest.approx(loss, rel=1e-5)
    np.testing.assert_allclose(out["grad"], flat, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(out["after"], p - 0.01 * flat, rtol=1e-5, atol=1e-7)
    assert out["after_loss"] < out["loss"]


def test_seed_pytorch_network_matches_torch_when_available():
    torch = pytest.importorskip("torch")
    out = _load("seed_pytorch_network").main(verbose=False)
    p = torch.tensor(out["before"])
    w1, b1 = p[:50].reshape(10, 5).T.clone(), p[50:55].clone()
    w2, b2 = p[55:60].reshape(5, 1).T.clone(), p[60:61].clone()
    model = torch.nn.Sequential(torch.nn.Linear(10, 5), torch.nn.ReLU(), torch.nn.Linear(5, 1))
    with torch.no_grad():
        for param, value in zip(model.parameters(), (w1, b1, w2, b2)):
            param.copy_(value)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.01)
    loss = torch.nn.MSELoss()(model(torch.tensor(out["x"])), torch.tensor(out["target"]))
    optimizer.zero_grad()
    loss.backward()
    optimizer.step()
    after = [t.detach().numpy() for t in model.parameters()]
    expected = np.concatenate([after[0].T.ravel(), after[1], after[2].T.ravel(), after[3]])
    assert out["loss"] == pytest.approx(loss.item(), rel=1e-6)
    np.testing.assert_allclose(out["after"], expected, rtol=1e-6, atol=1e-7)


def test_single_neuron_gradient_is_the_chain_rule_formula():
    example = _load("single_neuron")
    out = example.main(steps=50, verbose=False)
    dw, db = out["chain_rule"]
    np.testing.assert_allclose(out["grad"], np.append(dw, db), rtol=1e-12)
    # and gradient descent with that formula, by hand, reaches the same weights
    w, b = example.W.copy(), example.B
    for _ in range(50):
        gw, gb = example.chain_rule_gradient(w, b, example.X[0], example.Y[0, 0])
        w, b = w - example.LR * gw, b - example.LR * gb
    np.testing.assert_allclose(out["neuron"].params, np.append(w, b), rtol=1e-12)
    assert out["history"].loss[-1] < out["history"].loss[0]


def test_streaming_partial_fit_is_as_good_as_one_fit():
    pytest.importorskip("sklearn")
    scores = _load("streaming_partial_fit").main(rows=8_000, chunk_rows=1_000, passes=4)
    whole = scores["one fit over all rows"]
    assert whole > 0.9
    assert scores["partial_fit over memory-mapped chunks"] >= whole - 0.01
    assert scores["partial_fit over an iterator"] >= whole - 0.02


def test_dask_cluster_trains_chunk_by_chunk_and_predicts_in_parallel():
    """A real LocalCluster of 2 worker processes, each with one fastbp thread."""
    for module in NEEDS["dask_cluster.py"]:
        pytest.importorskip(module)
    accuracy, agree, worker_threads = _load("dask_cluster").main(rows=4_000, chunk_rows=500, epochs=3)
    assert agree  # the cluster's predictions equal a local predict, row for row
    assert accuracy > 0.8
    assert worker_threads == [1, 1]


def test_digits_and_regression_examples_learn():
    assert _load("digits").main(epochs=20) > 0.95
    rmse, linear = _load("regression").main(rows=3000, epochs=30)
    assert rmse < linear / 5
