"""A digits classifier that leaves fastbp four ways, each checked against predict.

ONNX (run by onnxruntime), a torch.nn.Sequential, a safetensors file that PyTorch
loads without pickle, and scikit-learn's own MLPClassifier.

pip install "fastbp[sklearn,onnx,safetensors]" onnxruntime torch==2.13.0
python examples/export_models.py
"""

import tempfile
import warnings
from pathlib import Path

import numpy as np
import onnxruntime
import torch
from safetensors.torch import load_file
from sklearn.datasets import load_digits
from sklearn.exceptions import ConvergenceWarning

import fastbp


def main():
    warnings.simplefilter("ignore", ConvergenceWarning)
    X, y = load_digits(return_X_y=True)
    X = X / 16.0
    clf = fastbp.MLPClassifier(hidden_layer_sizes=(64,), max_iter=40, random_state=0, dtype="float64").fit(
        X, y
    )
    proba = clf.predict_proba(X)
    print(f"fastbp MLPClassifier, training accuracy {clf.score(X, y):.4f}")
    with tempfile.TemporaryDirectory() as folder:
        onnx_path = Path(folder) / "digits.onnx"
        clf.to_onnx(onnx_path)
        session = onnxruntime.InferenceSession(onnx_path, providers=["CPUExecutionProvider"])
        label, probabilities = session.run(None, {"X": X})
        print(f"onnxruntime: labels equal {bool((label == clf.predict(X)).all())}, "
              f"largest probability difference {np.abs(probabilities - proba).max():.1e}")  # fmt: skip

        module = clf.net_.to_torch()
        with torch.no_grad():
            torch_proba = torch.softmax(module(torch.from_numpy(X)), dim=1).numpy()
        print(f"torch.nn.Sequential: largest probability difference {np.abs(torch_proba - proba).max():.1e}")

        tensors_path = Path(folder) / "digits.safetensors"
        clf.net_.save_safetensors(tensors_path)
        fresh = fastbp.MLP([64, 64, 10], loss="cross_entropy", dtype="float64", seed=1).to_torch()
        fresh.load_state_dict(load_file(tensors_path))  # PyTorch reads the weights, no pickle
        with torch.no_grad():
            same = torch.equal(fresh(torch.from_numpy(X)), module(torch.from_numpy(X)))
        back = fastbp.load_safetensors(tensors_path)
        print(f"safetensors: PyTorch's load_state_dict gives the same outputs {same}; fastbp reads it back "
              f"with equal weights {bool(np.array_equal(back.params, clf.net_.params))}")  # fmt: skip

    sk = clf.to_sklearn()
    gap = np.abs(sk.predict_proba(X) - proba).max()
    print(f"scikit-learn MLPClassifier: largest probability difference {gap:.1e}")


if __name__ == "__main__":
    main()
