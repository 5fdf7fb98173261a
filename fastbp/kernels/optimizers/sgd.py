"""SGD with optional (Nesterov) momentum, as ``torch.optim.SGD``.  State row 0: the momentum buffer."""

import numpy as np
from numba import prange

from ..._jit import FASTMATH_ELEMENTWISE, jit_serial_and_parallel
from .flush import flush

HYPER = ("momentum", "dampening", "nesterov", "weight_decay")  # the hyper vector, by name
MOMENTUM, DAMPENING, NESTEROV, WEIGHT_DECAY = range(len(HYPER))
N_STATE = 1  # the momentum buffer, kept even at momentum 0 so momentum can be turned on later


def _update(hyper, lr, step, params, grad, state):
    # Scalars are cast to the parameters' dtype and every branch sits outside
    # its loop, so each loop is straight-line arithmetic in one precision that
    # LLVM vectorises.
    t = params.dtype.type
    n = params.size
    tiny = t(np.finfo(params.dtype).tiny)
    momentum, dampening, weight_decay = t(hyper[MOMENTUM]), t(1.0 - hyper[DAMPENING]), t(hyper[WEIGHT_DECAY])
    lr_, first = t(lr), step == 1
    if momentum == 0.0:
        for i in prange(n):
            params[i] -= lr_ * (grad[i] + weight_decay * params[i])
    elif hyper[NESTEROV] != 0.0:
        for i in prange(n):
            g = grad[i] + weight_decay * params[i]
            buf = flush(g if first else momentum * state[0, i] + dampening * g, tiny)
            state[0, i] = buf
            params[i] -= lr_ * (g + momentum * buf)
    else:
        for i in prange(n):
            g = grad[i] + weight_decay * params[i]
            # torch starts the buffer at the first gradient (no dampening then)
            buf = flush(g if first else momentum * state[0, i] + dampening * g, tiny)
            state[0, i] = buf
            params[i] -= lr_ * buf


# without reassoc, so a gradient whose square overflows takes torch's finite step (see _jit.py)
update_serial, update_parallel = jit_serial_and_parallel(_update, fastmath=FASTMATH_ELEMENTWISE)
