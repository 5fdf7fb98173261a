"""Classify the 8x8 handwritten digits that ship with fastbp.

python examples/digits.py
"""

import numpy as np

import fastbp
from fastbp.datasets import load_digits


def main(epochs=40, seed=0):
    X, y = load_digits()
    X = X / 16.0  # pixel counts 0..16 to 0..1
    order = np.random.default_rng(seed).permutation(len(y))
    train, test = order[:1400], order[1400:]
    net = fastbp.MLP([64, 128, 10], activation="relu", loss="cross_entropy", dropout=0.1, seed=seed)
    history = net.fit(X[train], y[train], epochs=epochs, batch_size=32, optimizer=fastbp.Adam(lr=2e-3),
                      validation_data=(X[test], y[test]), verbose=0)  # fmt: skip
    accuracy = float(np.mean(net.predict(X[test]).argmax(axis=1) == y[test]))
    print(f"{len(train)} training images, {len(test)} test images, {epochs} epochs")
    print(f"training loss {history.loss[0]:.3f} -> {history.loss[-1]:.3f}; test accuracy {accuracy:.4f}")
    return accuracy


if __name__ == "__main__":
    main()
