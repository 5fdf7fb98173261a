"""RMSprop, as ``torch.optim.RMSprop``.  State rows: squared average, momentum buffer, mean (centered)."""

import math

import numpy as np
from numba import prange

from ..._jit import FASTMATH_ELEMENTWISE, jit_serial_and_parallel
from .flush import flush

HYPER = ("alpha", "eps", "momentum", "weight_decay", "centered")  # the hyper vector, by name
ALPHA, EPS, MOMENTUM, WEIGHT_DECAY, CENTERED = range(len(HYPER))
N_STATE = 3


def _update(hyper, lr, step, params, grad, state):
    t = params.dtype.type
    n = params.size
    tiny = t(np.finfo(params.dtype).tiny)
    alpha, eps, momentum = t(hyper[ALPHA]), t(hyper[EPS]), t(hyper[MOMENTUM])
    weight_decay = t(hyper[WEIGHT_DECAY])
    c, lr_ = t(1.0) - alpha, t(lr)
    centered = hyper[CENTERED] != 0.0
    for i in prange(n):
        g = grad[i] + weight_decay * params[i]
        sq = flush(alpha * state[0, i] + c * g * g, tiny)
        state[0, i] = sq
        if centered:
            mean = flush(alpha * state[2, i] + c * g, tiny)
            state[2, i] = mean
            sq = sq - mean * mean
        step_ = g / (math.sqrt(sq) + eps)
        if momentum > 0.0:
            step_ = flush(momentum * state[1, i] + step_, tiny)
            state[1, i] = step_
        params[i] -= lr_ * step_


# without reassoc, so a gradient whose square overflows takes torch's finite step (see _jit.py)
update_serial, update_parallel = jit_serial_and_parallel(_update, fastmath=FASTMATH_ELEMENTWISE)
