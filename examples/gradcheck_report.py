"""Check backpropagation against finite differences for every activation and every loss.

For each pair, a float64 network 4-5-3-k with random biases is checked with
``fastbp.gradcheck`` (largest relative error of ``loss_grad`` against float64
central differences over every packed parameter).  Then a deeper network with
mixed activations, dropout and an L2 penalty.

Run: python examples/gradcheck_report.py
"""

import numpy as np

import fastbp

ACTIVATIONS = ["identity", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "silu"]
LOSSES = ["mse", "mae", "huber", "cross_entropy", "binary_cross_entropy"]


def targets(loss, rows, k, rng):
    if loss == "cross_entropy":
        return rng.integers(0, k, size=rows)
    if loss == "binary_cross_entropy":
        return (rng.random((rows, k)) < 0.5).astype(np.float64)
    return rng.normal(size=(rows, k))


def main():
    rng = np.random.default_rng(0)
    worst = 0.0
    print(f"{'activation':>12} " + " ".join(f"{loss:>20}" for loss in LOSSES))
    for act in ACTIVATIONS:
        errors = []
        for loss in LOSSES:
            net = fastbp.MLP([4, 5, 3, 3], activation=act, loss=loss, dtype="float64", seed=1)
            for b in net.intercepts_:
                b[:] = rng.normal(size=b.shape) * 0.3
            X = rng.normal(size=(6, 4))
            errors.append(fastbp.gradcheck(net, X, targets(loss, 6, 3, rng)))
        worst = max(worst, *errors)
        print(f"{act:>12} " + " ".join(f"{e:>20.2e}" for e in errors))
    deep = fastbp.MLP(
        [7, 9, 8, 6, 5, 4],
        activation=["tanh", "gelu", "silu", "elu"],
        loss="cross_entropy",
        dropout=[0.3, 0.0, 0.2, 0.1],
        alpha=0.05,
        dtype="float64",
        seed=2,
    )
    X = rng.normal(size=(11, 7))
    deep_error = fastbp.gradcheck(deep, X, targets("cross_entropy", 11, 4, rng), dropout_seed=5)
    print(f"deep 7-9-8-6-5-4, mixed activations, dropout, alpha: {deep_error:.2e}")
    print(f"largest relative error: {max(worst, deep_error):.2e}")
    return max(worst, deep_error)


if __name__ == "__main__":
    main()
