"""Slow, obviously correct NumPy versions of every fastbp kernel, for the tests to compare against."""

import math

import numpy as np
from scipy.special import erf, expit

ACTIVATIONS = ["identity", "relu", "leaky_relu", "elu", "gelu", "sigmoid", "tanh", "softplus", "silu"]
LOSSES = ["mse", "squared_error", "mae", "huber", "cross_entropy", "binary_cross_entropy"]
LAYER_KINDS = ["dense", *ACTIVATIONS, "dropout", "layer_norm", "batch_norm", "residual"]
OPTIMIZERS = ["sgd", "adam", "adamw", "rmsprop", "adagrad"]


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
        if np.sum(w) == 0:  # fastbp's rule: a batch of zero weight has loss 0 and no data gradient
            return 0.0, np.zeros(np.shape(out))
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


def network_loss_grad(
    ws,
    bs,
    acts,
    out_act,
    loss_name,
    X,
    target,
    alpha=0.0,
    wrong_bias_rule=False,
    keep=None,
    rates=None,
    w=None,
):
    """Textbook backpropagation, one layer at a time.

    ``acts`` are the hidden activations, ``out_act`` the output activation for
    the regression losses ("identity" for the cross-entropy losses).  With
    ``wrong_bias_rule`` the hidden delta adds the next layer's bias, as one
    of the seed documents writes it, so the tests can show that rule is wrong.
    Inverted dropout: ``keep[l]`` is hidden layer l's boolean (rows, width)
    mask (or None) and ``rates[l]`` its rate; a kept value is scaled by
    1 / (1 - rate).  ``w`` (rows,) are row weights: the loss is their
    weighted mean and the L2 term is divided by their sum.
    Returns ``(loss, [dW], [db])``.
    """
    names = list(acts) + [out_act]
    keep = keep or [None] * len(acts)
    rates = rates or [0.0] * len(acts)
    scales = [None if k is None else k / (1.0 - r) for k, r in zip(keep, rates)] + [None]
    zs, hs = [], [np.asarray(X, dtype=np.float64)]
    for weights, b, name, scale in zip(ws, bs, names, scales):
        zs.append(hs[-1] @ weights + b)
        hs.append(activation(name, zs[-1]) if scale is None else activation(name, zs[-1]) * scale)
    value, delta = loss(loss_name, hs[-1], target, w)
    delta = delta * activation_derivative(names[-1], zs[-1])
    n = X.shape[0] if w is None or np.sum(w) == 0 else np.sum(w)
    dws, dbs = [None] * len(ws), [None] * len(ws)
    for layer in range(len(ws) - 1, -1, -1):
        dws[layer] = hs[layer].T @ delta + alpha * ws[layer] / n
        dbs[layer] = delta.sum(axis=0)
        if layer:
            back = delta @ ws[layer].T
            if wrong_bias_rule:
                back = back + bs[layer].sum()  # the (W^T delta + b) form, summed to fit the shape
            if scales[layer - 1] is not None:
                back = back * scales[layer - 1]
            delta = back * activation_derivative(names[layer - 1], zs[layer - 1])
    value += 0.5 * alpha * sum((weights**2).sum() for weights in ws) / n
    return value, dws, dbs


def layer_norm(x, gamma, beta, eps):
    """torch.nn.LayerNorm over the last axis: (x - mean) / sqrt(biased var + eps) * gamma + beta."""
    x = np.asarray(x, dtype=np.float64)
    mean = x.mean(axis=1, keepdims=True)
    var = ((x - mean) ** 2).mean(axis=1, keepdims=True)
    return (x - mean) / np.sqrt(var + eps) * gamma + beta


def batch_norm(x, gamma, beta, eps, running_mean=None, running_var=None, momentum=0.1):
    """torch.nn.BatchNorm1d.  Training (no running statistics given): the batch's statistics.

    Returns ``(y, new running mean, new running var)`` in training, with the
    running variance updated with the unbiased batch variance; in evaluation
    (running statistics given) ``y`` alone.
    """
    x = np.asarray(x, dtype=np.float64)
    if running_mean is not None:
        return (x - running_mean) / np.sqrt(running_var + eps) * gamma + beta
    n = x.shape[0]
    mean, var = x.mean(axis=0), x.var(axis=0)
    y = (x - mean) / np.sqrt(var + eps) * gamma + beta
    return y, mean, var * n / (n - 1)


def sequential_forward(net, X, train):
    """The outputs (logits for the cross-entropy losses) of a fastbp.Sequential, layer by layer.

    Reads the layer specs and the named parameters and running statistics;
    ``train`` uses BatchNorm's batch statistics (dropout is off either way).
    """
    params = dict(net.parameters())
    buffers = dict(net.buffers())

    def run(layers, prefix, x):
        for index, layer in enumerate(layers):
            name, kind = f"{prefix}{index}.", layer.kind
            if kind == "dense":
                x = x @ params[name + "weight"] + (params[name + "bias"] if layer.bias else 0.0)
            elif kind in ACTIVATIONS:
                x = activation(kind, x)
            elif kind == "layer_norm":
                x = layer_norm(x, params[name + "weight"], params[name + "bias"], layer.eps)
            elif kind == "batch_norm":
                gamma, beta = params[name + "weight"], params[name + "bias"]
                if train:
                    x = batch_norm(x, gamma, beta, layer.eps)[0]
                else:
                    stats = buffers[name + "running_mean"], buffers[name + "running_var"]
                    x = batch_norm(x, gamma, beta, layer.eps, *stats)
            elif kind == "residual":
                x = x + run(layer.layers, name, x)
            elif kind != "dropout":
                raise ValueError(kind)
        return x

    return run(net.layers, "", np.asarray(X, dtype=np.float64))


def flatten(ws, bs):
    """fastbp's flat layout: W0 (row-major), b0, W1, b1, ..."""
    return np.concatenate([np.concatenate([w.ravel(), b]) for w, b in zip(ws, bs)])


def unflatten(params, sizes):
    """``(ws, bs)`` views of a flat parameter vector for layer widths ``sizes``."""
    ws, bs, at = [], [], 0
    for n_in, n_out in zip(sizes[:-1], sizes[1:]):
        ws.append(params[at : at + n_in * n_out].reshape(n_in, n_out))
        bs.append(params[at + n_in * n_out : at + n_in * n_out + n_out])
        at += n_in * n_out + n_out
    return ws, bs


# ------------------------------------------------------------------ random numbers
# fastbp's documented counter-based generator (fastbp/kernels/random.py), rewritten in
# Python integers: splitmix64's finaliser of key + (counter + 1) * golden, modulo 2**64.
_MASK64 = (1 << 64) - 1


def mix(key, counter):
    x = (int(key) + (int(counter) + 1) * 0x9E3779B97F4A7C15) & _MASK64
    x = ((x ^ (x >> 30)) * 0xBF58476D1CE4E5B9) & _MASK64
    x = ((x ^ (x >> 27)) * 0x94D049BB133111EB) & _MASK64
    return x ^ (x >> 31)


def uniform(key, counter):
    """A float in [0, 1): the top 53 bits of ``mix(key, counter)``."""
    return (mix(key, counter) >> 11) * 2.0**-53


def derive_key(seed, *counters):
    key = int(seed)
    for counter in counters:
        key = mix(key, counter)
    return key


def shuffled_order(n, key):
    """Fisher-Yates from the last position down, position i swapped with mix(key, i) % (i + 1)."""
    order = list(range(n))
    for i in range(n - 1, 0, -1):
        j = mix(key, i) % (i + 1)
        order[i], order[j] = order[j], order[i]
    return np.array(order)


def epoch_key(fit_seed, epoch):
    """The key of an epoch of ``fit``: its shuffle, and (through ``batch_key``) its dropout masks."""
    return derive_key(fit_seed, 0x5EED, epoch)


def batch_key(key_of_epoch, batch):
    return mix(key_of_epoch, (1 << 40) | batch)


def dropout_draws(key, layer, rows, width):
    """Hidden layer ``layer``'s (rows, width) uniform draws: element (r, j) is counter r * width + j.

    Inverted dropout keeps the elements whose draw is >= the rate.
    """
    layer_key = mix(key, layer)
    draws = [uniform(layer_key, c) for c in range(rows * width)]
    return np.array(draws).reshape(rows, width)


def train(sizes, params, acts, out_act, loss_name, X, y, optimizer, epochs, batch_size, *,
          shuffle=True, seed=0, first_epoch=0, rates=None, alpha=0.0, w=None):  # fmt: skip
    """Mini-batch training as ``MLP.fit`` documents it, on this module's backpropagation.

    Epoch e visits the rows in ``shuffled_order(n, epoch_key(seed, first_epoch + e))``
    (or in order without ``shuffle``) in batches of ``batch_size`` (the last
    may be shorter); batch b's dropout keeps element (r, j) of hidden layer l
    when ``uniform(mix(batch_key(epoch key, b), l), r * width + j) >= rate``.
    ``optimizer`` is one of this module's optimizer classes.  Returns the
    final flat parameters and each epoch's mean batch loss (weighted by the
    batch's row count, or weight sum).
    """
    params = np.array(params, dtype=np.float64)
    X, y = np.asarray(X, dtype=np.float64), np.asarray(y)
    n = X.shape[0]
    rates = list(rates or [0.0] * len(acts))
    losses = []
    for epoch in range(epochs):
        key = epoch_key(seed, first_epoch + epoch)
        order = shuffled_order(n, key) if shuffle else np.arange(n)
        total = 0.0
        for batch, start in enumerate(range(0, n, batch_size)):
            rows = order[start : start + batch_size]
            drop_key = batch_key(key, batch)
            keep = [
                dropout_draws(drop_key, layer, len(rows), sizes[layer + 1]) >= rate if rate > 0 else None
                for layer, rate in enumerate(rates)
            ]
            ws, bs = unflatten(params, sizes)
            bw = None if w is None else w[rows]
            value, dws, dbs = network_loss_grad(
                ws, bs, acts, out_act, loss_name, X[rows], y[rows], alpha=alpha, keep=keep, rates=rates, w=bw
            )
            params = optimizer.step(params, flatten(dws, dbs))
            total += value * (len(rows) if bw is None else bw.sum())
        losses.append(total / (n if w is None else np.sum(w)))
    return params, losses


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
