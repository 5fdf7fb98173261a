"""Finite-difference check of ``MLP.loss_grad``."""

import numpy as np


def numerical_gradient(net, X, y, eps=1e-5, dropout_seed=None, sample_weight=None):
    """Central-difference gradient of the loss in float64, one parameter at a time.

    Returns ``(analytic, numeric)``, both float64 arrays of shape (n_params,),
    computed on a float64 copy of ``net`` (``net`` itself is not changed).
    """
    net64 = net.copy(dtype="float64")
    loss_grad = net64._loss_grad_function(X, y, dropout_seed, sample_weight)
    scratch = np.empty_like(net64.params)

    def loss():
        return loss_grad(scratch)

    analytic = np.empty_like(net64.params)
    loss_grad(analytic)
    numeric = np.empty_like(analytic)
    p = net64.params
    for i in range(p.size):
        saved = p[i]
        p[i] = saved + eps
        up = loss()
        p[i] = saved - eps
        down = loss()
        p[i] = saved
        numeric[i] = (up - down) / (2.0 * eps)
    return analytic, numeric


def gradcheck(net, X, y, eps=1e-5, floor=1e-4, dropout_seed=None, sample_weight=None):
    """Largest relative error between ``loss_grad`` and float64 central differences.

    The relative error of parameter ``i`` is
    ``|a_i - n_i| / max(|a_i|, |n_i|, floor)``: components smaller than
    ``floor`` are compared on an absolute scale, where the rounding error of a
    difference quotient (about 1e-11 for eps=1e-5) would otherwise dominate.

    Parameters
    ----------
    net : fastbp.MLP
        Any dtype; the check runs on a float64 copy.
    X : array-like of shape (n, n_in)
    y : array-like
        Targets as for ``loss_grad``.
    eps : float, default 1e-5
        Step of the central difference.
    floor : float, default 1e-4
    dropout_seed : int, optional
        Check the dropout path with this fixed mask.
    sample_weight : array-like of shape (n,), optional
        Check the weighted loss.

    Returns
    -------
    float
    """
    analytic, numeric = numerical_gradient(net, X, y, eps, dropout_seed, sample_weight)
    scale = np.maximum(np.maximum(np.abs(analytic), np.abs(numeric)), floor)
    return float(np.max(np.abs(analytic - numeric) / scale))
