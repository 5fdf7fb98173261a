"""Elementwise activation functions and their derivatives.

tanh uses a vectorisable approximation in float32 (``fastbp.kernels.fastmath``)
and libm in float64.

Each activation has a small integer code so that a whole network's activations
travel into compiled code as one ``int64`` array.  The kernels work on flat
1-D arrays (a layer's ``(rows, width)`` block viewed as one vector); the branch
on the code sits outside the element loop so the loop can vectorise.
"""

import math

from numba import prange

from .._jit import PARALLEL_MIN_ELEMENTS, jit, jit_inline, jit_serial_and_parallel
from .fastmath import tanh

IDENTITY = 0
RELU = 1
LEAKY_RELU = 2
ELU = 3
GELU = 4
SIGMOID = 5
TANH = 6
SOFTPLUS = 7
SILU = 8

CODES = {
    "identity": IDENTITY,
    "relu": RELU,
    "leaky_relu": LEAKY_RELU,
    "elu": ELU,
    "gelu": GELU,
    "sigmoid": SIGMOID,
    "tanh": TANH,
    "softplus": SOFTPLUS,
    "silu": SILU,
}
NAMES = {code: name for name, code in CODES.items()}

# Activations after which weights are drawn with He (Kaiming) scaling.
RELU_LIKE = frozenset({"relu", "leaky_relu", "elu", "gelu", "silu"})

LEAKY_SLOPE = 0.01
SOFTPLUS_THRESHOLD = 20.0  # softplus(z) is z above this, as in torch.nn.Softplus
INV_SQRT2 = 1.0 / math.sqrt(2.0)
INV_SQRT_2PI = 1.0 / math.sqrt(2.0 * math.pi)


@jit_inline
def sigmoid(z):
    """Logistic function without overflow for large ``|z|``."""
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@jit_inline
def _softplus(z):
    if z > SOFTPLUS_THRESHOLD:
        return z
    return math.log1p(math.exp(z))


def _forward(code, z, a):
    """a[i] = f(z[i]) for the activation ``code``; z, a are 1-D of equal size."""
    n = z.size
    if code == IDENTITY:
        for i in prange(n):
            a[i] = z[i]
    elif code == RELU:
        for i in prange(n):
            a[i] = z[i] if z[i] > 0 else 0.0
    elif code == LEAKY_RELU:
        for i in prange(n):
            a[i] = z[i] if z[i] > 0 else LEAKY_SLOPE * z[i]
    elif code == ELU:
        for i in prange(n):
            a[i] = z[i] if z[i] > 0 else math.expm1(z[i])
    elif code == GELU:
        for i in prange(n):
            a[i] = 0.5 * z[i] * (1.0 + math.erf(z[i] * INV_SQRT2))
    elif code == SIGMOID:
        for i in prange(n):
            a[i] = sigmoid(z[i])
    elif code == TANH:
        for i in prange(n):
            a[i] = tanh(z[i])
    elif code == SOFTPLUS:
        for i in prange(n):
            a[i] = _softplus(z[i])
    elif code == SILU:
        for i in prange(n):
            a[i] = z[i] * sigmoid(z[i])


def _backward(code, z, a, g):
    """g[i] *= f'(z[i]) in place; ``a`` holds f(z) for the activations that reuse it."""
    n = z.size
    if code == IDENTITY:
        return
    if code == RELU:
        for i in prange(n):
            g[i] = g[i] if z[i] > 0 else 0.0
    elif code == LEAKY_RELU:
        for i in prange(n):
            g[i] = g[i] if z[i] > 0 else LEAKY_SLOPE * g[i]
    elif code == ELU:
        for i in prange(n):
            g[i] = g[i] if z[i] > 0 else g[i] * (a[i] + 1.0)
    elif code == GELU:
        for i in prange(n):
            x = z[i]
            cdf = 0.5 * (1.0 + math.erf(x * INV_SQRT2))
            pdf = INV_SQRT_2PI * math.exp(-0.5 * x * x)
            g[i] = g[i] * (cdf + x * pdf)
    elif code == SIGMOID:
        for i in prange(n):
            g[i] = g[i] * a[i] * (1.0 - a[i])
    elif code == TANH:
        for i in prange(n):
            g[i] = g[i] * (1.0 - a[i] * a[i])
    elif code == SOFTPLUS:
        for i in prange(n):
            g[i] = g[i] if z[i] > SOFTPLUS_THRESHOLD else g[i] * sigmoid(z[i])
    elif code == SILU:
        for i in prange(n):
            s = sigmoid(z[i])
            g[i] = g[i] * s * (1.0 + z[i] * (1.0 - s))


forward_serial, forward_parallel = jit_serial_and_parallel(_forward)
backward_serial, backward_parallel = jit_serial_and_parallel(_backward)


@jit
def activation_forward(code, z, a):
    """Apply activation ``code`` elementwise: ``a = f(z)``, both 1-D of length n."""
    if z.size >= PARALLEL_MIN_ELEMENTS:
        forward_parallel(code, z, a)
    else:
        forward_serial(code, z, a)


@jit
def activation_backward(code, z, a, g):
    """Multiply the upstream gradient ``g`` (1-D, length n) in place by f'(z)."""
    if z.size >= PARALLEL_MIN_ELEMENTS:
        backward_parallel(code, z, a, g)
    else:
        backward_serial(code, z, a, g)
