"""Elementwise activation functions and their derivatives.

tanh uses a vectorisable approximation in float32 (``fastbp.kernels.fastmath``)
and libm in float64.

Each activation has a small integer code, the CODE column of its op in the
network's table (``table.py``).  A new activation is one forward/backward
pair of loops here, its code and its entry in ``ACTIVATIONS``.  The kernels work on flat
1-D arrays (a layer's ``(rows, width)`` block viewed as one vector); the branch
on the code sits outside the element loop so the loop can vectorise.
"""

import math

from .._jit import jit, jit_inline
from .blocks import add_into, block
from .fastmath import tanh
from .table import ACC_IN, CODE, D_IN, D_OUT, IN, N_OUT, OUT, X_BLOCK

IDENTITY = 0
RELU = 1
LEAKY_RELU = 2
ELU = 3
GELU = 4
SIGMOID = 5
TANH = 6
SOFTPLUS = 7
SILU = 8

# The registry: name -> (code, class name in fastbp.layers, whether the
# weights before it are drawn with He (Kaiming) scaling rather than Glorot's).
ACTIVATIONS = {
    "identity": (IDENTITY, "Identity", False),
    "relu": (RELU, "ReLU", True),
    "leaky_relu": (LEAKY_RELU, "LeakyReLU", True),
    "elu": (ELU, "ELU", True),
    "gelu": (GELU, "GELU", True),
    "sigmoid": (SIGMOID, "Sigmoid", False),
    "tanh": (TANH, "Tanh", False),
    "softplus": (SOFTPLUS, "Softplus", False),
    "silu": (SILU, "SiLU", True),
}
CODES = {name: entry[0] for name, entry in ACTIVATIONS.items()}
NAMES = {code: name for name, code in CODES.items()}
RELU_LIKE = frozenset(name for name, entry in ACTIVATIONS.items() if entry[2])

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
    """Apply activation ``code`` elementwise: ``a = f(z)``, both 1-D of length n."""
    n = z.size
    if code == IDENTITY:
        for i in range(n):
            a[i] = z[i]
    elif code == RELU:
        for i in range(n):
            a[i] = z[i] if z[i] > 0 else 0.0
    elif code == LEAKY_RELU:
        for i in range(n):
            a[i] = z[i] if z[i] > 0 else LEAKY_SLOPE * z[i]
    elif code == ELU:
        for i in range(n):
            a[i] = z[i] if z[i] > 0 else math.expm1(z[i])
    elif code == GELU:
        for i in range(n):
            a[i] = 0.5 * z[i] * (1.0 + math.erf(z[i] * INV_SQRT2))
    elif code == SIGMOID:
        for i in range(n):
            a[i] = sigmoid(z[i])
    elif code == TANH:
        for i in range(n):
            a[i] = tanh(z[i])
    elif code == SOFTPLUS:
        for i in range(n):
            a[i] = _softplus(z[i])
    elif code == SILU:
        for i in range(n):
            a[i] = z[i] * sigmoid(z[i])


def _backward(code, z, a, g, dx):
    """dx = g * f'(z), all 1-D of length n; ``a`` holds f(z) where it is reused.  ``dx`` may be ``g``."""
    n = z.size
    if code == IDENTITY:
        for i in range(n):
            dx[i] = g[i]
    elif code == RELU:
        for i in range(n):
            dx[i] = g[i] if z[i] > 0 else 0.0
    elif code == LEAKY_RELU:
        for i in range(n):
            dx[i] = g[i] if z[i] > 0 else LEAKY_SLOPE * g[i]
    elif code == ELU:
        for i in range(n):
            dx[i] = g[i] if z[i] > 0 else g[i] * (a[i] + 1.0)
    elif code == GELU:
        for i in range(n):
            x = z[i]
            cdf = 0.5 * (1.0 + math.erf(x * INV_SQRT2))
            pdf = INV_SQRT_2PI * math.exp(-0.5 * x * x)
            dx[i] = g[i] * (cdf + x * pdf)
    elif code == SIGMOID:
        for i in range(n):
            dx[i] = g[i] * a[i] * (1.0 - a[i])
    elif code == TANH:
        for i in range(n):
            dx[i] = g[i] * (1.0 - a[i] * a[i])
    elif code == SOFTPLUS:
        for i in range(n):
            dx[i] = g[i] if z[i] > SOFTPLUS_THRESHOLD else g[i] * sigmoid(z[i])
    elif code == SILU:
        for i in range(n):
            s = sigmoid(z[i])
            dx[i] = g[i] * s * (1.0 + z[i] * (1.0 - s))


# Serial loops only.  With a parallel twin beside them (taken above 2**22
# values), every op calling them ran slower on small blocks even though the
# parallel call was never taken: LLVM inlines the twin's scheduling code into
# the caller.  An activation over a block large enough to profit is a small
# share of the dense product before it.
activation_forward = jit(_forward)
activation_backward = jit(_backward)


@jit_inline
def forward(net, op, ch):
    """The activation op ``op`` on one chunk (elementwise: the storage order does not matter)."""
    row = net.ops[op]
    n = row[N_OUT]
    activation_forward(row[CODE], block(ch.acts, row[IN], ch.rows, n), block(ch.acts, row[OUT], ch.rows, n))


@jit_inline
def backward(net, op, ch):
    """The input's delta of the activation op ``op``: the output's delta times f'(z)."""
    row = net.ops[op]
    if row[IN] == X_BLOCK:
        return  # on the network's input: nothing to pass back
    n = row[N_OUT]
    g = block(ch.deltas, row[D_OUT], ch.rows, n)
    z, a = block(ch.acts, row[IN], ch.rows, n), block(ch.acts, row[OUT], ch.rows, n)
    if row[ACC_IN]:
        activation_backward(row[CODE], z, a, g, g)
        add_into(block(ch.deltas, row[D_IN], ch.rows, n), g)
    else:
        activation_backward(row[CODE], z, a, g, block(ch.deltas, row[D_IN], ch.rows, n))
