"""Optimizer updates over the whole flat parameter buffer, as ``torch.optim`` does them.

``params``, ``grad`` and each row of ``state`` share one layout, so an update
is one loop.  Each optimizer is one module here: ``HYPER`` names the entries
of its float64 ``hyper`` vector (the Python class fills it by those names),
``N_STATE`` counts its state rows, and ``_update`` is its loop.  ``step`` is
the 1-based count of updates including this one (for Adam's bias correction
and Adagrad's decay).  A new optimizer is a module, its entry in ``KINDS``
and its line in ``_optimizer_update``.
"""

import types

from ..._jit import jit_with_globals
from . import adagrad, adam, rmsprop, sgd

SGD, ADAM, RMSPROP, ADAGRAD = range(4)
KINDS = {
    "sgd": (SGD, sgd),
    "adam": (ADAM, adam),
    "rmsprop": (RMSPROP, rmsprop),
    "adagrad": (ADAGRAD, adagrad),
}


def _optimizer_update(kind, hyper, lr, step, params, grad, state):
    """One optimizer step on the flat buffers, in place.

    params, grad : (P,).  state : (n_state, P).  hyper : (h,) float64.
    lr : float, the learning rate for this step.  step : int, 1-based.
    """
    args = (hyper, lr, step, params, grad, state)
    if kind == SGD:
        sgd.UPDATE(*args)
    elif kind == ADAM:
        adam.UPDATE(*args)
    elif kind == RMSPROP:
        rmsprop.UPDATE(*args)
    elif kind == ADAGRAD:
        adagrad.UPDATE(*args)


def _bound(twin):
    """Stand-ins for the optimizer modules, a module whose ``UPDATE`` is its ``twin`` loop each."""
    stand_ins = {}
    for name, (_, module) in KINDS.items():
        stand_ins[name] = types.ModuleType(f"{module.__name__}.{twin}")
        stand_ins[name].UPDATE = getattr(module, twin)
    return stand_ins


# Two copies of one dispatch: serial loops, and parallel ones for buffers of
# PARALLEL_MIN_ELEMENTS and more (see _jit.py).  The epoch kernels that can
# reach a parallel loop are compiled only for networks that large
# (network.Passes): the four parallel twins took 2.4 of the 14.8 s of a first
# fit of 20-64-3 in a fresh cache, which never runs them.
optimizer_update = jit_with_globals(_optimizer_update, "_serial", **_bound("update_serial"))
optimizer_update_parallel = jit_with_globals(_optimizer_update, "_parallel", **_bound("update_parallel"))
