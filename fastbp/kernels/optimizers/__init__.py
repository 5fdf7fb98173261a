"""Optimizer updates over the whole flat parameter buffer, as ``torch.optim`` does them.

``params``, ``grad`` and each row of ``state`` share one layout, so an update
is one loop.  Each optimizer is one module here: ``HYPER`` names the entries
of its float64 ``hyper`` vector (the Python class fills it by those names),
``N_STATE`` counts its state rows, and ``_update`` is its loop.  ``step`` is
the 1-based count of updates including this one (for Adam's bias correction
and Adagrad's decay).  A new optimizer is a module, its entry in ``KINDS``
and its line in ``optimizer_update``.
"""

from ..._jit import PARALLEL_MIN_ELEMENTS, jit
from . import adagrad, adam, rmsprop, sgd

SGD, ADAM, RMSPROP, ADAGRAD = range(4)
KINDS = {
    "sgd": (SGD, sgd),
    "adam": (ADAM, adam),
    "rmsprop": (RMSPROP, rmsprop),
    "adagrad": (ADAGRAD, adagrad),
}


@jit
def optimizer_update(kind, hyper, lr, step, params, grad, state):
    """One optimizer step on the flat buffers, in place.

    params, grad : (P,).  state : (n_state, P).  hyper : (h,) float64.
    lr : float, the learning rate for this step.  step : int, 1-based.
    """
    parallel = params.size >= PARALLEL_MIN_ELEMENTS
    args = (hyper, lr, step, params, grad, state)
    if kind == SGD:
        sgd.update_parallel(*args) if parallel else sgd.update_serial(*args)
    elif kind == ADAM:
        adam.update_parallel(*args) if parallel else adam.update_serial(*args)
    elif kind == RMSPROP:
        rmsprop.update_parallel(*args) if parallel else rmsprop.update_serial(*args)
    elif kind == ADAGRAD:
        adagrad.update_parallel(*args) if parallel else adagrad.update_serial(*args)
