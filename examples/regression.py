"""Fit a noisy 3-D function with a regression MLP, and compare with a linear fit.

python examples/regression.py
"""

import numpy as np

import fastbp


def target(X):
    return np.sin(2 * X[:, 0]) * X[:, 1] + 0.5 * X[:, 2] ** 2


def main(rows=5_000, epochs=60, seed=0):
    rng = np.random.default_rng(seed)
    X = rng.uniform(-2, 2, size=(rows, 3)).astype(np.float32)
    y = (target(X) + 0.05 * rng.normal(size=rows)).astype(np.float32)
    X_test = rng.uniform(-2, 2, size=(2_000, 3)).astype(np.float32)
    y_test = target(X_test)

    net = fastbp.MLP([3, 64, 64, 1], activation="tanh", loss="mse", seed=seed)
    net.fit(X, y, epochs=epochs, batch_size=64, optimizer=fastbp.Adam(lr=3e-3), lr_schedule="cosine")
    rmse = float(np.sqrt(np.mean((net.predict(X_test)[:, 0] - y_test) ** 2)))

    design = np.column_stack([X, np.ones(rows)])
    coef = np.linalg.lstsq(design, y, rcond=None)[0]
    linear = float(np.sqrt(np.mean((np.column_stack([X_test, np.ones(len(X_test))]) @ coef - y_test) ** 2)))
    print(f"test RMSE: MLP {rmse:.4f}, linear least squares {linear:.4f} (noise level 0.05)")
    return rmse, linear


if __name__ == "__main__":
    main()
