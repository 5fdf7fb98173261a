"""ONNX export: onnxruntime's outputs equal ``predict`` for every layer kind, loss output, dtype and opset,
for the estimators and for ``fastbp export``; every graph passes onnx's full check."""

import csv
import subprocess
import sys

import numpy as np
import pytest

onnx = pytest.importorskip("onnx")
ort = pytest.importorskip("onnxruntime")

import fastbp  # noqa: E402
from fastbp import layers as L  # noqa: E402
from fastbp.kernels.activations import ACTIVATIONS  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Stochastic Optimizer")  # short fits of the estimators
TOLERANCE = {"float32": {"rtol": 1e-5, "atol": 1e-6}, "float64": {"rtol": 1e-9, "atol": 1e-12}}


def run_onnx(model, X, outputs=None):
    """onnxruntime's outputs for the rows ``X`` (the model passes the full check first)."""
    onnx.checker.check_model(model, full_check=True)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    return session.run(outputs, {session.get_inputs()[0].name: X})


def _perturbed(net, rng, scale=0.5):
    """Weights, biases, norm affine parameters and running statistics all away from their start."""
    net.params[:] = rng.normal(scale=scale, size=net.n_params)
    for name, view in net.buffers():
        view[:] = rng.uniform(0.5, 2.0, view.shape) if name.endswith("var") else rng.normal(size=view.shape)
    return net


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("loss", ["cross_entropy", "binary_cross_entropy", "mse"])
@pytest.mark.parametrize("activation", sorted(ACTIVATIONS))
def test_every_activation_and_loss_output_equals_predict(activation, loss, dtype):
    rng = np.random.default_rng(1)
    net = _perturbed(fastbp.MLP([5, 7, 6, 4], activation=activation, loss=loss, dtype=dtype, seed=0), rng)
    X = (rng.normal(size=(33, 5)) * 3).astype(dtype)
    X[0] = 40.0  # softplus beyond its linear threshold, exp() far out
    model = net.to_onnx()
    [got] = run_onnx(model, X)
    assert got.dtype == np.dtype(dtype) and got.shape == (33, 4)
    np.testing.assert_allclose(got, net.predict(X), **TOLERANCE[dtype])
    expected_output = "probabilities" if loss != "mse" else "predictions"
    assert [o.name for o in model.graph.output] == [expected_output]
    assert [i.name for i in model.graph.input] == ["X"]


@pytest.mark.parametrize("opset", [13, 17, 20])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_gelu_in_each_opset_and_one_row(opset, dtype):
    rng = np.random.default_rng(2)
    net = _perturbed(fastbp.MLP([3, 8, 2], activation="gelu", loss="mse", dtype=dtype), rng)
    ops = {n.op_type for n in net.to_onnx(opset=opset).graph.node}
    if dtype == "float32":
        assert ("Gelu" in ops) == (opset >= 20) and ("Erf" in ops) == (opset < 20)
    else:  # onnxruntime has no float64 Erf: erfc from its Chebyshev series
        assert not {"Gelu", "Erf"} & ops and "Exp" in ops
    for rows in (1, 17):
        X = rng.normal(size=(rows, 3)).astype(dtype)
        [got] = run_onnx(net.to_onnx(opset=opset), X)
        np.testing.assert_allclose(got, net.predict(X), **TOLERANCE[dtype])


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_norms_residual_blocks_and_dropout_equal_predict(dtype):
    rng = np.random.default_rng(3)
    layers = [
        L.Dense(9), L.BatchNorm(eps=1e-3), L.ReLU(), L.Dropout(0.3),
        L.Residual(L.Dense(9), L.LayerNorm(eps=1e-4), L.SiLU(), L.Residual(L.Dense(9, bias=False), L.Tanh())),
        L.LayerNorm(), L.Dense(3),
    ]  # fmt: skip
    net = _perturbed(fastbp.Sequential(4, layers, loss="cross_entropy", dtype=dtype), rng)
    X = rng.normal(size=(21, 4)).astype(dtype)
    model = net.to_onnx()
    ops = [n.op_type for n in model.graph.node]
    assert {"BatchNormalization", "LayerNormalization", "Add", "Softmax"} <= set(ops)
    assert "Dropout" not in ops
    [got] = run_onnx(model, X)
    np.testing.assert_allclose(got, net.predict(X), **TOLERANCE[dtype])
    assert model.graph.input[0].type.tensor_type.shape.dim[0].dim_param == "N"


def test_trained_network_file_round_trip_and_refusals(tmp_path, rng):
    X = rng.normal(size=(200, 4)).astype(np.float32)
    y = (X[:, 0] > 0).astype(int) + (X[:, 1] > 0)
    net = fastbp.MLP([4, 16, 3], loss="cross_entropy", norm="batch", seed=0)
    net.fit(X, y, epochs=3, batch_size=16)
    path = tmp_path / "net.onnx"
    net.to_onnx(path)
    [got] = run_onnx(onnx.load(path), X)
    np.testing.assert_allclose(got, net.predict(X), **TOLERANCE["float32"])
    layer_norm = fastbp.MLP([4, 8, 2], norm="layer")
    with pytest.raises(ValueError, match="LayerNorm needs opset 17"):
        layer_norm.to_onnx(opset=13)
    for opset in (12, "17", True):
        with pytest.raises(ValueError, match="opset must be an integer"):
            net.to_onnx(opset=opset)


# ---------------------------------------------------------------- estimators


@pytest.mark.parametrize("dtype", ["float32", "float64"])
@pytest.mark.parametrize("labels", ["int", "text", "binary_text", "binary_int", "multilabel"])
def test_classifier_label_and_probabilities_equal_predict(labels, dtype, rng):
    pytest.importorskip("sklearn")
    X = rng.normal(size=(150, 6))
    score = X[:, 0] + 0.5 * X[:, 1]
    if labels == "multilabel":
        y = np.stack([score > 0, X[:, 2] > 0, X[:, 3] > 0.5], axis=1).astype(int)
    elif labels.startswith("binary"):
        y = np.where(score > 0, "yes", "no") if labels == "binary_text" else (score > 0).astype(int) * 7
    else:
        y = np.digitize(score, [-1, 0, 1])
        y = np.array(["low", "mid", "high", "top"])[y] if labels == "text" else y * 10 - 3
    est = fastbp.MLPClassifier(hidden_layer_sizes=(8, 5), max_iter=5, random_state=0, dtype=dtype).fit(X, y)
    model = est.to_onnx()
    assert [o.name for o in model.graph.output] == ["label", "probabilities"]
    label, proba = run_onnx(model, X.astype(dtype))
    np.testing.assert_allclose(proba, est.predict_proba(X), **TOLERANCE[dtype])
    expected = est.predict(X)
    if labels in ("text", "binary_text"):
        label = label.astype(str)
    assert label.shape == expected.shape and (label == expected).all()


@pytest.mark.parametrize("outputs", [1, 3])
def test_regressor_variable_equals_predict(outputs, rng):
    pytest.importorskip("sklearn")
    X = rng.normal(size=(120, 4))
    y = X @ rng.normal(size=(4, outputs)) + 0.1 * np.sin(X[:, :1])
    est = fastbp.MLPRegressor(hidden_layer_sizes=(12,), max_iter=5, random_state=0, dtype="float64",
                              activation="tanh").fit(X, y[:, 0] if outputs == 1 else y)  # fmt: skip
    [variable] = run_onnx(est.to_onnx(), X)
    assert variable.shape == (120, outputs)
    np.testing.assert_allclose(variable, est.predict(X).reshape(120, outputs), **TOLERANCE["float64"])


# ---------------------------------------------------------------- command line
def _cli(*args, cwd):
    command = [sys.executable, "-m", "fastbp", *map(str, args)]
    done = subprocess.run(command, capture_output=True, text=True, cwd=cwd, timeout=600)
    assert done.returncode == 0, done.stderr
    return done


def _read_csv(path):
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    return rows[0], rows[1:]


@pytest.mark.parametrize("task", ["classification", "regression"])
def test_cli_export_takes_raw_rows_and_answers_as_fastbp_predict(task, tmp_path, rng):
    X = rng.normal(loc=[5.0, -3.0, 100.0], scale=[1.0, 4.0, 20.0], size=(300, 3))
    if task == "classification":
        target = np.where(X[:, 0] - 5 > 0.3, "high", np.where(X[:, 2] > 100, "mid", "low"))
    else:
        target = 1000 + 30 * (X[:, 0] - 5) - 0.5 * X[:, 1] ** 2
    with open(tmp_path / "data.csv", "w", newline="") as f:
        writer = csv.writer(f)
        writer.writerow(["a", "b", "c", "y"])
        writer.writerows([[*row, t] for row, t in zip(X.tolist(), target.tolist())])
    _cli("train", "data.csv", "--target", "y", "--epochs", "3", "--out", "m.fbp", "-q", cwd=tmp_path)
    said = _cli("export", "m.fbp", "m.onnx", cwd=tmp_path).stdout
    assert "m.onnx" in said and "a, b, c" in said
    model = onnx.load(tmp_path / "m.onnx")
    outputs = run_onnx(model, X.astype(np.float32))
    if task == "classification":
        _cli("predict", "m.fbp", "data.csv", "--out", "labels.csv", cwd=tmp_path)
        _cli("predict", "m.fbp", "data.csv", "--proba", "--out", "proba.csv", cwd=tmp_path)
        label, proba = outputs
        assert [o.name for o in model.graph.output] == ["label", "probabilities"]
        assert list(label.astype(str)) == [row[0] for row in _read_csv(tmp_path / "labels.csv")[1]]
        expected = np.array(_read_csv(tmp_path / "proba.csv")[1], dtype=np.float64)
        np.testing.assert_allclose(proba, expected, rtol=1e-5, atol=1e-6)
    else:
        _cli("predict", "m.fbp", "data.csv", "--out", "values.csv", cwd=tmp_path)
        [prediction] = outputs
        expected = np.array(_read_csv(tmp_path / "values.csv")[1], dtype=np.float64)
        np.testing.assert_allclose(prediction, expected, rtol=1e-5)
    props = {p.key: p.value for p in model.metadata_props}
    assert props["feature_names"] == '["a", "b", "c"]'


def test_cli_export_refuses_a_missing_model_cleanly(tmp_path):
    command = [sys.executable, "-m", "fastbp", "export", "missing.fbp", "m.onnx"]
    done = subprocess.run(command, capture_output=True, text=True, cwd=tmp_path, timeout=600)
    assert done.returncode == 2 and "fastbp export: error:" in done.stderr
    assert not (tmp_path / "m.onnx").exists()
