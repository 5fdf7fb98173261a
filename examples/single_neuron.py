"""The single sigmoid neuron with four inputs from the project's seed documents.

    z = w . x + b,  a = sigmoid(z),  L = (a - y)^2
    dL/dw_i = 2 (a - y) * a (1 - a) * x_i,   dL/db = 2 (a - y) * a (1 - a)
    w_i <- w_i - lr * dL/dw_i

fastbp builds it as ``MLP([4, 1], loss="mse", output="sigmoid")`` and its
backpropagated gradient equals the chain-rule formula above.

Run: python examples/single_neuron.py
"""

import numpy as np

import fastbp

X = np.array([[0.5, -1.2, 0.3, 2.0]])
Y = np.array([[1.0]])
W = np.array([0.1, -0.2, 0.4, 0.05])
B = 0.1
LR = 0.5


def chain_rule_gradient(w, b, x, y):
    """The gradient written out by hand, as in the seed document."""
    a = 1.0 / (1.0 + np.exp(-(x @ w + b)))
    common = 2.0 * (a - y) * a * (1.0 - a)
    return common * x, common


def main(steps=50, verbose=True):
    neuron = fastbp.MLP([4, 1], loss="mse", output="sigmoid", dtype="float64")
    neuron.coefs_[0][:, 0] = W
    neuron.intercepts_[0][0] = B

    loss, grad = neuron.loss_grad(X, Y)
    dw, db = chain_rule_gradient(W, B, X[0], Y[0, 0])
    if verbose:
        print(f"output {neuron.predict(X)[0, 0]:.6f}, loss {loss:.6f}")
        print("dL/dw by the chain rule:", np.round(dw, 6), " dL/db:", round(float(db), 6))
        print("dL/dw from fastbp:      ", np.round(grad[:4], 6), " dL/db:", round(float(grad[4]), 6))
    hist = neuron.fit(X, Y, epochs=steps, batch_size=1, optimizer=fastbp.SGD(lr=LR), shuffle=False)
    if verbose:
        print(
            f"after {steps} gradient-descent steps: output {neuron.predict(X)[0, 0]:.6f}, "
            f"loss {hist.loss[0]:.6f} -> {neuron.loss_grad(X, Y)[0]:.6f}"
        )
    return {"loss": loss, "grad": grad, "chain_rule": (dw, db), "history": hist, "neuron": neuron}


if __name__ == "__main__":
    main()
