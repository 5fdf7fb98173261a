"""Losses computed from the network's last pre-activation (the logits).

Every loss is the mean over its batch, as ``torch.nn`` losses with
``reduction="mean"``: over all elements for mse, squared_error, mae, huber and
binary_cross_entropy, over rows for cross_entropy.  squared_error is half the
mse (scikit-learn's regression loss).  With row weights ``w`` the mean is
weighted, ``sum(w_i * loss_i) / sum(w_i)`` (scikit-learn's meaning: a weight of
2 counts a row twice); a batch whose weights are all 0 has loss 0.  ``loss_and_delta`` returns
the loss and writes its gradient with respect to the logits.

Targets come in one of two forms, so one compiled signature serves all losses:
``y`` (n, k) floats (regression targets, one-hot or soft class probabilities,
binary indicators) or ``labels`` (n,) int64 class indices for cross_entropy,
with the unused one empty.
"""

import math

import numpy as np

from .._jit import jit
from .activations import sigmoid
from .fastmath import exp

MSE = 0
MAE = 1
HUBER = 2
CROSS_ENTROPY = 3
BINARY_CROSS_ENTROPY = 4
SQUARED_ERROR = 5

CODES = {
    "mse": MSE,
    "mae": MAE,
    "huber": HUBER,
    "cross_entropy": CROSS_ENTROPY,
    "binary_cross_entropy": BINARY_CROSS_ENTROPY,
    "squared_error": SQUARED_ERROR,
}
NAMES = {code: name for name, code in CODES.items()}
# the function predict applies to the last layer's outputs (the cross-entropy losses take logits)
OUTPUTS_OF_LOSS = {"cross_entropy": "softmax", "binary_cross_entropy": "sigmoid"}

HUBER_DELTA = 1.0


@jit
def weight_sum(w, rows):
    """What a batch's mean divides by: ``sum(w)``, or ``rows`` when ``w`` is empty (unweighted)."""
    if w.shape[0] == 0:
        return float(rows)
    total = 0.0
    for i in range(w.shape[0]):
        total += w[i]
    return total


@jit
def loss_and_delta(code, out, y, labels, w, delta, want_delta, norm):
    """Loss of a batch's rows, ``sum(w_i * loss_i) / norm``; with ``want_delta`` its gradient w.r.t. out.

    ``norm`` is the weight sum of the whole batch (``weight_sum``): a batch
    split into chunks passes each chunk its batch's norm, so the chunks'
    losses and gradients add up to the batch's.

    out : (n, k) logits (or, for regression losses, the output activation).
    y : (n, k) float targets, or empty when ``labels`` is used.
    labels : (n,) int64 class indices, or empty when ``y`` is used.
    w : (n,) float64 row weights, or empty for weight 1 on every row.
    delta : (n, k), receives dL/d(out) when ``want_delta`` is True.
    Returns the loss as float64.
    """
    n, k = out.shape
    total = 0.0
    weighted = w.shape[0] > 0
    inv_norm = 1.0 / norm if norm > 0.0 else 0.0
    if code == CROSS_ENTROPY:
        use_labels = labels.shape[0] > 0
        for i in range(n):
            scale = (w[i] if weighted else 1.0) * inv_norm
            # log-sum-exp shifted by the row maximum so exp never overflows;
            # with want_delta, delta's row holds the exponentials until normalised
            zmax = out[i, 0]
            for j in range(1, k):
                zmax = max(zmax, out[i, j])
            sumexp = 0.0
            if want_delta:
                for j in range(k):
                    e = exp(out[i, j] - zmax)
                    delta[i, j] = e
                    sumexp += e
            else:
                for j in range(k):
                    sumexp += exp(out[i, j] - zmax)
            lse = zmax + math.log(sumexp)
            if use_labels:
                total += scale * (lse - out[i, labels[i]])
                if want_delta:
                    factor = scale / sumexp
                    for j in range(k):
                        delta[i, j] *= factor
                    delta[i, labels[i]] -= scale
            else:
                ysum = 0.0
                for j in range(k):
                    total += scale * y[i, j] * (lse - out[i, j])
                    ysum += y[i, j]
                if want_delta:
                    factor = ysum * scale / sumexp
                    for j in range(k):
                        delta[i, j] = delta[i, j] * factor - y[i, j] * scale
        return total

    half = 0.5 if code == SQUARED_ERROR else 1.0
    for i in range(n):
        scale = (w[i] if weighted else 1.0) * inv_norm / k
        row_total = 0.0
        for j in range(k):
            z = out[i, j]
            t = y[i, j]
            d = z - t
            if code == MSE or code == SQUARED_ERROR:
                row_total += half * d * d
                g = 2.0 * half * d
            elif code == MAE:
                row_total += abs(d)
                g = np.sign(d)
            elif code == HUBER:
                if abs(d) <= HUBER_DELTA:
                    row_total += 0.5 * d * d
                    g = d
                else:
                    row_total += HUBER_DELTA * (abs(d) - 0.5 * HUBER_DELTA)
                    g = HUBER_DELTA * np.sign(d)
            else:  # BINARY_CROSS_ENTROPY on logits: max(z,0) - z*t + log(1 + e^-|z|)
                row_total += max(z, 0.0) - z * t + math.log1p(math.exp(-abs(z)))
                g = sigmoid(z) - t
            if want_delta:
                delta[i, j] = g * scale
        total += scale * row_total
    return total


@jit
def output_transform(loss_code, z, out):
    """What ``predict`` returns from the logits ``z`` (n, k) into ``out`` (n, k).

    Softmax for cross_entropy, sigmoid for binary_cross_entropy; for the
    regression losses the output activation has already been applied by the
    forward pass, so ``z`` is copied.
    """
    n, k = z.shape
    if loss_code == CROSS_ENTROPY:
        for i in range(n):
            zmax = z[i, 0]
            for j in range(1, k):
                zmax = max(zmax, z[i, j])
            s = 0.0
            for j in range(k):
                e = exp(z[i, j] - zmax)
                out[i, j] = e
                s += e
            for j in range(k):
                out[i, j] /= s
    elif loss_code == BINARY_CROSS_ENTROPY:
        for i in range(n):
            for j in range(k):
                out[i, j] = sigmoid(z[i, j])
    else:
        out[:, :] = z
