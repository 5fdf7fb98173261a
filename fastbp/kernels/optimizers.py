"""Optimizer updates over the whole flat parameter buffer, as ``torch.optim`` does them.

``params``, ``grad`` and each row of ``state`` share one layout, so an update
is one loop.  ``hyper`` is a float64 vector whose meaning depends on the
optimizer kind (see ``fastbp.optimizers``); ``step`` is the 1-based count of
updates including this one (for Adam's bias correction and Adagrad's decay).
"""

import math

import numpy as np
from numba import prange

from .._jit import FASTMATH_ELEMENTWISE, PARALLEL_MIN_ELEMENTS, jit, jit_inline, jit_serial_and_parallel

SGD = 0
ADAM = 1
ADAMW = 2
RMSPROP = 3
ADAGRAD = 4


@jit_inline
def _flush(x, tiny):
    """x, or 0 when |x| is below the smallest normal number.

    A state buffer that decays geometrically (a moment whose gradient is zero,
    as for a dead relu unit) spends hundreds of steps as a subnormal number, and
    x86 does subnormal arithmetic far slower.  Measured on 784-256-128-10
    (batch 128, Adam): with 137k-148k of 235k first moments subnormal, an
    epoch ran at 40k-47k samples/s; flushed, at 92k-102k.  Values this small change no
    update by more than about 1e-30, so they are dropped, as XLA's
    flush-to-zero mode would.
    """
    # a multiply by 1 or 0 rather than a select of x or x * 0: LLVM vectorises it
    # (the select kept Adam at 3x the time), and NaN * 0 is still NaN
    one, zero = tiny / tiny, tiny - tiny  # in x's precision
    return x * (one if abs(x) >= tiny else zero)


def _update(kind, hyper, lr, step, params, grad, state):
    # Scalars are cast to the parameters' dtype and every branch sits outside
    # its loop, so each loop is straight-line arithmetic in one precision that
    # LLVM vectorises (float32 Adam ran 5 ns per parameter before).
    t = params.dtype.type
    n = params.size
    one = t(1.0)
    tiny = t(np.finfo(params.dtype).tiny)
    if kind == SGD:
        momentum, dampening, weight_decay = t(hyper[0]), t(1.0 - hyper[1]), t(hyper[3])
        lr_, first = t(lr), step == 1
        if momentum == 0.0:
            for i in prange(n):
                params[i] -= lr_ * (grad[i] + weight_decay * params[i])
        elif hyper[2] != 0.0:  # Nesterov
            for i in prange(n):
                g = grad[i] + weight_decay * params[i]
                buf = _flush(g if first else momentum * state[0, i] + dampening * g, tiny)
                state[0, i] = buf
                params[i] -= lr_ * (g + momentum * buf)
        else:
            for i in prange(n):
                g = grad[i] + weight_decay * params[i]
                # torch starts the buffer at the first gradient (no dampening then)
                buf = _flush(g if first else momentum * state[0, i] + dampening * g, tiny)
                state[0, i] = buf
                params[i] -= lr_ * buf
    elif kind == ADAM or kind == ADAMW:
        beta1, beta2, eps = t(hyper[0]), t(hyper[1]), t(hyper[2])
        c1, c2 = one - beta1, one - beta2
        step_size = t(lr / (1.0 - hyper[0] ** step))
        inv_bias2_sqrt = t(1.0 / math.sqrt(1.0 - hyper[1] ** step))
        if kind == ADAMW:
            decay, coupled = t(1.0 - lr * hyper[3]), t(0.0)
        else:
            decay, coupled = one, t(hyper[3])
        for i in prange(n):
            p = params[i] * decay
            g = grad[i] + coupled * p
            m = _flush(beta1 * state[0, i] + c1 * g, tiny)
            v = _flush(beta2 * state[1, i] + c2 * g * g, tiny)
            state[0, i] = m
            state[1, i] = v
            params[i] = p - step_size * m / (math.sqrt(v) * inv_bias2_sqrt + eps)
    elif kind == RMSPROP:
        alpha, eps, momentum, weight_decay = t(hyper[0]), t(hyper[1]), t(hyper[2]), t(hyper[3])
        c, lr_ = one - alpha, t(lr)
        centered = hyper[4] != 0.0
        for i in prange(n):
            g = grad[i] + weight_decay * params[i]
            sq = _flush(alpha * state[0, i] + c * g * g, tiny)
            state[0, i] = sq
            if centered:
                mean = _flush(alpha * state[2, i] + c * g, tiny)
                state[2, i] = mean
                sq = sq - mean * mean
            step_ = g / (math.sqrt(sq) + eps)
            if momentum > 0.0:
                step_ = _flush(momentum * state[1, i] + step_, tiny)
                state[1, i] = step_
            params[i] -= lr_ * step_
    elif kind == ADAGRAD:
        eps, weight_decay = t(hyper[1]), t(hyper[2])
        clr = t(lr / (1.0 + (step - 1) * hyper[0]))
        for i in prange(n):
            g = grad[i] + weight_decay * params[i]
            acc = state[0, i] + g * g
            state[0, i] = acc
            params[i] -= clr * g / (math.sqrt(acc) + eps)


# without reassoc, so a gradient whose square overflows takes torch's finite step (see _jit.py)
update_serial, update_parallel = jit_serial_and_parallel(_update, fastmath=FASTMATH_ELEMENTWISE)


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
