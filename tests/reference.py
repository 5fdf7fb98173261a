"""Slow, obviously correct NumPy versions of every fastbp kernel, for the tests to compare against."""

import math

import numpy as np
from scipy.special import erf, expit

ACTIVATIONS = ["identity", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "silu"]
LOSSES = ["mse", "squared_error", "mae", "huber", "cross_entropy", "binary_cross_entropy"]


def sigmoid(z):
    return expit(z)


def activation(name, z):
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return z.copy()
    if name == "relu":
        return np.maximum(z, 0.0)
    if name == "leaky_relu":
        return np.where(z > 0, z, 0.01 * z)
    if name == "elu":
        return np.where(z > 0, z, np.expm1(np.minimum(z, 0.0)))
    if name == "gelu":
        return 0.5 * z * (1.0 + erf(z / math.sqrt(2.0)))
    if name == "sigmoid":
        return sigmoid(z)
    if name == "tanh":
        return np.tanh(z)
    if name == "softplus":
        return np.where(z > 20, z, np.log1p(np.exp(np.minimum(z, 20.0))))
    if name == "silu":
        return z * sigmoid(z)
    raise ValueError(name)


def activation_derivative(name, z):
    z = np.asarray(z, dtype=np.float64)
    if name == "identity":
        return np.ones_like(z)
    if name == "relu":
        return (z > 0).astype(np.float64)
    if name == "leaky_relu":
        return np.where(z > 0, 1.0, 0.01)
    if name == "elu":
        return np.where(z > 0, 1.0, np.exp(np.minimum(z, 0.0)))
    if name == "gelu":
        return 0.5 * (1.0 + erf(z / math.sqrt(2.0))) + z * np.exp(-0.5 * z * z) / math.sqrt(2 * math.pi)
    if name == "sigmoid":
        s = sigmoid(z)
        return s * (1 - s)
    if name == "tanh":
        return 1.0 - np.tanh(z) ** 2
    if name == "softplus":
        return np.where(z > 20, 1.0, sigmoid(z))
    if name == "silu":
        s = sigmoid(z)
        return s * (1 + z * (1 - s))
    raise ValueError(name)


def log_softmax(z):
    shifted = z - z.max(axis=1, keepdims=True)
    return shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))


def loss(name, out, target, w=None):
    """Mean loss and its gradient w.r.t. ``out`` (n, k); ``target`` is (n, k) or (n,) labels.

    With row weights ``w`` (n,) the mean is weighted: sum(w * row loss) / sum(w).
    """
    if w is not None:
        rows = [loss(name, out[i : i + 1], target[i : i + 1]) for i in range(len(out))]
        value = sum(wi * v for wi, (v, _) in zip(w, rows)) / np.sum(w)
        grad = np.concatenate([wi * g for wi, (_, g) in zip(w, rows)]) / np.sum(w)
        return value, grad
    out = np.asarray(out, dtype=np.float64)
    n, k = out.shape
    if name == "cross_entropy":
        if target.ndim == 1:
            target = np.eye(k)[target]
        logp = log_softmax(out)
        value = -(target * logp).sum() / n
        grad = (np.exp(logp) * target.sum(axis=1, keepdims=True) - target) / n
        return value, grad
    d = out - target
    if name == "mse":
        return (d**2).mean(), 2 * d / d.size
    if name == "squared_error":
        return 0.5 * (d**2).mean(), d / d.size
    if name == "mae":
        return np.abs(d).mean(), np.sign(d) / d.size
    if name == "huber":
        small = np.abs(d) <= 1.0
        value = np.where(small, 0.5 * d**2, np.abs(d) - 0.5).mean()
        return value, np.where(small, d, np.sign(d)) / d.size
    if name == "binary_cross_entropy":
        p = sigmoid(out)
        # written as the textbook -[t log p + (1-t) log(1-p)], safe for moderate logits
        value = -(target * np.log(p) + (1 - target) * np.log1p(-p)).mean()
        return value, (p - target) / d.size
    raise ValueError(name)


def network_loss_grad(ws, bs, acts, out_act, loss_name, X, target, alpha=0.0, wrong_bias_rule=False):
    """Textbook backpropagation, one layer at a time.

    ``acts`` are the hidden activations, ``out_act`` the output activation for
    the regression losses ("identity" for the cross-entropy losses).  With
    ``wrong_bias_rule`` the hidden delta adds the next layer's bias, as one
    of the seed documents writes it, so the tests can show that rule is wrong.
    Returns ``(loss, [dW], [db])``.
    """
    names = list(acts) + [out_act]
    zs, hs = [], [np.asarray(X, dtype=np.float64)]
    for w, b, name in zip(ws, bs, names):
        zs.append(hs[-1] @ w + b)
        hs.append(activation(name, zs[-1]))
    value, delta = loss(loss_name, hs[-1], target)
    delta = delta * activation_derivative(names[-1], zs[-1])
    n = X.shape[0]
    dws, dbs = [None] * len(ws), [None] * len(ws)
    for layer in range(len(ws) - 1, -1, -1):
        dws[layer] = hs[layer].T @ delta + alpha * ws[layer] / n
        dbs[layer] = delta.sum(axis=0)
        if layer:
            back = delta @ ws[layer].T
            if wrong_bias_rule:
                back = back + bs[layer].sum()  # the (W^T delta + b) form, summed to fit the shape
            delta = back * activation_derivative(names[layer - 1], zs[layer - 1])
    value += 0.5 * alpha * sum((w**2).sum() for w in ws) / n
    return value, dws, dbs


class SGD:
    def __init__(self, lr, momentum=0.0, nesterov=False, weight_decay=0.0):
        self.lr, self.momentum, self.nesterov, self.wd = lr, momentum, nesterov, weight_decay
        self.buf = None

    def step(self, p, g):
        g = g + self.wd * p
        if self.momentum:
            self.buf = g.copy() if self.buf is None else self.momentum * self.buf + g
            g = g + self.momentum * self.buf if self.nesterov else self.buf
        return p - self.lr * g


class Adam:
    def __init__(self, lr=1e-3, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.0, decoupled=False):
        self.lr, self.b1, self.b2, self.eps, self.wd, self.decoupled = (
            lr,
            *betas,
            eps,
            weight_decay,
            decoupled,
        )
        self.m = self.v = None
        self.t = 0

    def step(self, p, g):
        if self.m is None:
            self.m, self.v = np.zeros_like(p), np.zeros_like(p)
        self.t += 1
        if self.decoupled:
            p = p * (1 - self.lr * self.wd)
        else:
            g = g + self.wd * p
        self.m = self.b1 * self.m + (1 - self.b1) * g
        self.v = self.b2 * self.v + (1 - self.b2) * g * g
        m_hat = self.m / (1 - self.b1**self.t)
        v_hat = self.v / (1 - self.b2**self.t)
        return p - self.lr * m_hat / (np.sqrt(v_hat) + self.eps)


class RMSprop:
    def __init__(self, lr=1e-2, alpha=0.99, eps=1e-8, momentum=0.0, weight_decay=0.0, centered=False):
        self.lr, self.alpha, self.eps, self.momentum, self.wd, self.centered = (
            lr,
            alpha,
            eps,
            momentum,
            weight_decay,
            centered,
        )
        self.sq = self.buf = self.mean = None

    def step(self, p, g):
        if self.sq is None:
            self.sq, self.buf, self.mean = np.zeros_like(p), np.zeros_like(p), np.zeros_like(p)
        g = g + self.wd * p
        self.sq = self.alpha * self.sq + (1 - self.alpha) * g * g
        if self.centered:
            self.mean = self.alpha * self.mean + (1 - self.alpha) * g
            avg = np.sqrt(self.sq - self.mean**2) + self.eps
        else:
            avg = np.sqrt(self.sq) + self.eps
        if self.momentum:
            self.buf = self.momentum * self.buf + g / avg
            return p - self.lr * self.buf
        return p - self.lr * g / avg


class Adagrad:
    def __init__(self, lr=1e-2, eps=1e-10, lr_decay=0.0, weight_decay=0.0):
        self.lr, self.eps, self.lr_decay, self.wd = lr, eps, lr_decay, weight_decay
        self.acc = None
        self.t = 0

    def step(self, p, g):
        if self.acc is None:
            self.acc = np.zeros_like(p)
        self.t += 1
        g = g + self.wd * p
        self.acc = self.acc + g * g
        clr = self.lr / (1 + (self.t - 1) * self.lr_decay)
        return p - clr * g / (np.sqrt(self.acc) + self.eps)
