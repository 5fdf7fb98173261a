"""Adagrad, as ``torch.optim.Adagrad``.  State row 0: the sum of squared gradients."""

import math

from numba import prange

from ..._jit import FASTMATH_ELEMENTWISE, jit_serial_and_parallel

HYPER = ("lr_decay", "eps", "weight_decay")  # the hyper vector, by name
LR_DECAY, EPS, WEIGHT_DECAY = range(len(HYPER))
N_STATE = 1


def _update(hyper, lr, step, params, grad, state):
    t = params.dtype.type
    n = params.size
    eps, weight_decay = t(hyper[EPS]), t(hyper[WEIGHT_DECAY])
    clr = t(lr / (1.0 + (step - 1) * hyper[LR_DECAY]))
    for i in prange(n):
        g = grad[i] + weight_decay * params[i]
        acc = state[0, i] + g * g
        state[0, i] = acc
        params[i] -= clr * g / (math.sqrt(acc) + eps)


# without reassoc, so a gradient whose square overflows takes torch's finite step (see _jit.py)
update_serial, update_parallel = jit_serial_and_parallel(_update, fastmath=FASTMATH_ELEMENTWISE)
