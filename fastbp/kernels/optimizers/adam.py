"""Adam and AdamW, as ``torch.optim.Adam``/``AdamW``.  State rows: first moment, second moment."""

import math

import numpy as np
from numba import prange

from ..._jit import FASTMATH_ELEMENTWISE, jit_serial_and_parallel
from .flush import flush

HYPER = ("beta1", "beta2", "eps", "weight_decay", "decoupled")  # the hyper vector, by name
BETA1, BETA2, EPS, WEIGHT_DECAY, DECOUPLED = range(len(HYPER))
N_STATE = 2


def _update(hyper, lr, step, params, grad, state):
    """One step; ``decoupled`` (AdamW) scales the weights by 1 - lr * weight_decay instead of
    adding weight_decay * p to the gradient (Adam)."""
    t = params.dtype.type
    n = params.size
    one = t(1.0)
    tiny = t(np.finfo(params.dtype).tiny)
    beta1, beta2, eps = t(hyper[BETA1]), t(hyper[BETA2]), t(hyper[EPS])
    c1, c2 = one - beta1, one - beta2
    step_size = t(lr / (1.0 - hyper[BETA1] ** step))
    inv_bias2_sqrt = t(1.0 / math.sqrt(1.0 - hyper[BETA2] ** step))
    if hyper[DECOUPLED] != 0.0:
        decay, coupled = t(1.0 - lr * hyper[WEIGHT_DECAY]), t(0.0)
    else:
        decay, coupled = one, t(hyper[WEIGHT_DECAY])
    for i in prange(n):
        p = params[i] * decay
        g = grad[i] + coupled * p
        m = flush(beta1 * state[0, i] + c1 * g, tiny)
        v = flush(beta2 * state[1, i] + c2 * g * g, tiny)
        state[0, i] = m
        state[1, i] = v
        params[i] = p - step_size * m / (math.sqrt(v) * inv_bias2_sqrt + eps)


# without reassoc, so a gradient whose square overflows takes torch's finite step (see _jit.py)
update_serial, update_parallel = jit_serial_and_parallel(_update, fastmath=FASTMATH_ELEMENTWISE)
