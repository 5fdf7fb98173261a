"""Optimizer updates over the whole flat parameter buffer, as ``torch.optim`` does them.

``params``, ``grad`` and each row of ``state`` share one layout, so an update
is one loop.  ``hyper`` is a float64 vector whose meaning depends on the
optimizer kind (see ``fastbp.optimizers``); ``step`` is the 1-based count of
updates including this one (for Adam's bias correction and Adagrad's decay).
"""

import math

from numba import prange

from .._jit import PARALLEL_MIN_ELEMENTS, jit, jit_serial_and_parallel

SGD = 0
ADAM = 1
ADAMW = 2
RMSPROP = 3
ADAGRAD = 4


def _update(kind, hyper, lr, step, params, grad, state):
    n = params.size
    if kind == SGD:
        momentum, dampening, nesterov, weight_decay = hyper[0], hyper[1], hyper[2], hyper[3]
        for i in prange(n):
            g = grad[i] + weight_decay * params[i]
            if momentum != 0.0:
                # torch starts the buffer at the first gradient (no dampening then)
                if step == 1:
                    buf = g
                else:
                    buf = momentum * state[0, i] + (1.0 - dampening) * g
                state[0, i] = buf
                g = g + momentum * buf if nesterov != 0.0 else buf
            params[i] -= lr * g
    elif kind == ADAM or kind == ADAMW:
        beta1, beta2, eps, weight_decay = hyper[0], hyper[1], hyper[2], hyper[3]
        bias1 = 1.0 - beta1**step
        bias2_sqrt = math.sqrt(1.0 - beta2**step)
        step_size = lr / bias1
        decay = 1.0 - lr * weight_decay
        for i in prange(n):
            g = grad[i]
            if kind == ADAMW:
                params[i] *= decay
            else:
                g += weight_decay * params[i]
            m = beta1 * state[0, i] + (1.0 - beta1) * g
            v = beta2 * state[1, i] + (1.0 - beta2) * g * g
            state[0, i] = m
            state[1, i] = v
            params[i] -= step_size * m / (math.sqrt(v) / bias2_sqrt + eps)
    elif kind == RMSPROP:
        alpha, eps, momentum, weight_decay, centered = (hyper[0], hyper[1], hyper[2], hyper[3], hyper[4])
        for i in prange(n):
            g = grad[i] + weight_decay * params[i]
            sq = alpha * state[0, i] + (1.0 - alpha) * g * g
            state[0, i] = sq
            if centered != 0.0:
                mean = alpha * state[2, i] + (1.0 - alpha) * g
                state[2, i] = mean
                avg = math.sqrt(sq - mean * mean) + eps
            else:
                avg = math.sqrt(sq) + eps
            if momentum > 0.0:
                buf = momentum * state[1, i] + g / avg
                state[1, i] = buf
                params[i] -= lr * buf
            else:
                params[i] -= lr * g / avg
    elif kind == ADAGRAD:
        lr_decay, eps, weight_decay = hyper[0], hyper[1], hyper[2]
        clr = lr / (1.0 + (step - 1) * lr_decay)
        for i in prange(n):
            g = grad[i] + weight_decay * params[i]
            acc = state[0, i] + g * g
            state[0, i] = acc
            params[i] -= clr * g / (math.sqrt(acc) + eps)


update_serial, update_parallel = jit_serial_and_parallel(_update)


@jit
def optimizer_update(kind, hyper, lr, step, params, grad, state):
    """One optimizer step on the flat buffers, in place.

    params, grad : (P,).  state : (n_state, P).  hyper : (h,) float64.
    lr : float, the learning rate for this step.  step : int, 1-based.
    """
    if params.size >= PARALLEL_MIN_ELEMENTS:
        update_parallel(kind, hyper, lr, step, params, grad, state)
    else:
        update_serial(kind, hyper, lr, step, params, grad, state)
