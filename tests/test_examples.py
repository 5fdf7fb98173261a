"""The examples run, and the seed examples give the numbers their documents derive."""

import ast
import importlib.util
import pathlib
import re
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
    "seed_ensemble.py": ["sklearn"],
    "grid_search.py": ["sklearn"],
    "export_models.py": ["sklearn", "onnxruntime", "torch", "safetensors"],
}
# run in-process by a test of their own, which checks their results
OWN_TEST = {"dask_cluster.py"}


def _numbers(pattern, text):
    """The numbers that ``pattern``'s groups capture in ``text`` (exactly one match), as floats."""
    (match,) = re.findall(pattern, text, flags=re.MULTILINE)
    return [float(g.replace(",", "")) for g in ((match,) if isinstance(match, str) else match)]


def _digits(out):
    train, test, epochs = _numbers(r"(\d+) training images, (\d+) test images, (\d+) epochs", out)
    assert (train + test, epochs) == (1797, 40)  # every bundled digit, split in two
    first, last, accuracy = _numbers(r"training loss ([\d.]+) -> ([\d.]+); test accuracy ([\d.]+)", out)
    assert last < first / 10
    assert accuracy > 0.95


def _gradcheck_report(out):
    lines = out.strip().splitlines()
    assert lines[0].split() == ["activation", "mse", "mae", "huber", "cross_entropy", "binary_cross_entropy"]
    table = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in lines[1:10]}
    assert " ".join(table) == "identity relu leaky_relu elu gelu sigmoid tanh softplus silu"
    errors = [e for row in table.values() for e in row] + _numbers(r"dropout, alpha: ([\d.e+-]+)", out)
    assert len(errors) == 46 and max(errors) < 1e-6  # float64 backprop against central differences
    (largest,) = _numbers(r"largest relative error: ([\d.e+-]+)", out)
    assert largest == max(errors)


def _regression(out):
    mlp, linear = _numbers(r"test RMSE: MLP ([\d.]+), linear least squares ([\d.]+)", out)
    assert mlp < 0.1  # against the noiseless target; the training noise is 0.05
    assert mlp < linear / 5


def _seed_pytorch_network(out):
    (n_params,) = _numbers(r"network \(10, 5, 1\), (\d+) parameters", out)
    assert n_params == 10 * 5 + 5 + 5 * 1 + 1
    before, after = _numbers(r"loss before the step ([\d.]+), after ([\d.]+)", out)
    assert after < before
    pattern = r"largest weight change ([\d.e+-]+) \(lr \* \|grad\| max = ([\d.e+-]+)\)"
    change, expected = _numbers(pattern, out)
    assert change == expected > 0  # one plain SGD step moves each weight by lr * its gradient


def _single_neuron(out):
    # the seed document's neuron, computed here: z = w . x + b, a = sigmoid(z), L = (a - y)^2
    w, x, b, y = np.array([0.1, -0.2, 0.4, 0.05]), np.array([0.5, -1.2, 0.3, 2.0]), 0.1, 1.0
    a = 1 / (1 + np.exp(-(w @ x + b)))
    dw, db = 2 * (a - y) * a * (1 - a) * x, 2 * (a - y) * a * (1 - a)
    output, loss = _numbers(r"^output ([\d.]+), loss ([\d.]+)$", out)
    assert output == pytest.approx(a, abs=1e-6) and loss == pytest.approx((a - y) ** 2, abs=1e-6)
    for source in ("by the chain rule", "from fastbp"):
        (printed,) = re.findall(rf"dL/dw {source}: *\[([^\]]+)\]  dL/db: ([-\d.]+)", out)
        np.testing.assert_allclose([float(v) for v in printed[0].split()], dw, atol=1e-6)
        assert float(printed[1]) == pytest.approx(db, abs=1e-6)
    pattern = r"after 50 gradient-descent steps: output ([\d.]+), loss ([\d.]+) -> ([\d.]+)"
    trained, first, last = _numbers(pattern, out)
    assert first == loss and last < loss / 50 and last == pytest.approx((trained - y) ** 2, abs=1e-6)


def _sklearn_pipeline(out):
    (best,) = re.findall(r"best parameters: (\{.*\})", out)
    grid = {"mlpclassifier__hidden_layer_sizes": [(16,), (64, 32)], "mlpclassifier__alpha": [1e-4, 1e-2],
            "mlpclassifier__dropout": [0.0, 0.2]}  # fmt: skip
    best = ast.literal_eval(best)
    assert best.keys() == grid.keys() and all(best[k] in grid[k] for k in grid)
    cv, test = _numbers(r"cross-validated accuracy ([\d.]+); test accuracy ([\d.]+)", out)
    assert cv > 0.95 and test > 0.9


def _seed_ensemble(out):
    assert _numbers(r"(\d+) training digits, (\d+) test digits, (\d+) members", out) == [898, 899, 5]
    low, high, mean = _numbers(r"single networks: test accuracy ([\d.]+) to ([\d.]+), mean ([\d.]+)", out)
    (together,) = _numbers(r"ensemble of 5: test accuracy ([\d.]+)", out)
    assert 0.8 < low <= mean <= high
    assert together > mean  # averaging five seeds beats the average single network


def _grid_search(out):
    (best,) = re.findall(r"best parameters: (\{.*\})", out)
    best = ast.literal_eval(best)
    assert set(best) == {"hidden_layer_sizes", "alpha", "learning_rate_init"}
    (score,) = _numbers(r"best cross-validated accuracy ([\d.]+)", out)
    assert score > 0.9
    (gap,) = _numbers(r"largest difference in mean_test_score ([\d.e+-]+)", out)
    assert gap <= 1e-9 and out.strip().endswith("same best parameters: True")


def _export_models(out):
    assert "onnxruntime: labels equal True" in out
    differences = [float(d) for d in re.findall(r"largest probability difference ([\d.e+-]+)", out)]
    assert len(differences) == 3 and max(differences) <= 1e-9
    assert "load_state_dict gives the same outputs True" in out and "equal weights True" in out


def _streaming_partial_fit(out):
    assert _numbers(r"(\d+) rows in chunks of (\d+), (\d+) passes", out) == [20000, 2000, 5]
    (streamed,) = _numbers(r"partial_fit over memory-mapped chunks +([\d.]+)", out)
    (iterated,) = _numbers(r"partial_fit over an iterator +([\d.]+)", out)
    (whole,) = _numbers(r"one fit over all rows +([\d.]+)", out)
    assert whole > 0.9 and streamed >= whole - 0.01 and iterated >= whole - 0.02


def _throughput(out):
    rows = re.findall(r"([\d-]+)  batch +(\d+) +([\d,]+) samples/s +([\d.]+) GFLOP/s", out)
    assert [(shape, int(batch)) for shape, batch, _, _ in rows] == [
        ("10-5-1", 32), ("64-64-64-10", 64), ("4-32-16-4", 1000)
    ]  # fmt: skip
    for shape, _, rate, gflops in rows:
        sizes = [int(n) for n in shape.split("-")]
        n_params = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
        rate = float(rate.replace(",", ""))
        assert rate > 0
        assert float(gflops) == pytest.approx(6 * n_params * rate / 1e9, abs=0.051)  # printed to 0.1


# what each example prints, checked: every example run as a script has an entry
OUTPUT_CHECKS = {
    "digits.py": _digits,
    "gradcheck_report.py": _gradcheck_report,
    "grid_search.py": _grid_search,
    "export_models.py": _export_models,
    "regression.py": _regression,
    "seed_ensemble.py": _seed_ensemble,
    "seed_pytorch_network.py": _seed_pytorch_network,
    "single_neuron.py": _single_neuron,
    "sklearn_pipeline.py": _sklearn_pipeline,
    "streaming_partial_fit.py": _streaming_partial_fit,
    "throughput.py": _throughput,
}


@pytest.mark.parametrize("script", sorted(p.name for p in EXAMPLES.glob("*.py") if p.name not in OWN_TEST))
def test_example_runs_as_a_script(script):
    assert script in OUTPUT_CHECKS, f"examples/{script} has no check of its output in OUTPUT_CHECKS"
    for module in NEEDS.get(script, []):
        pytest.importorskip(module)
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)], capture_output=True, text=True, timeout=300
    )
    assert result.returncode == 0, result.stderr
    OUTPUT_CHECKS[script](result.stdout)


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
