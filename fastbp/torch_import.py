"""PyTorch in: ``from_torch`` reads a ``torch.nn.Sequential`` into a fastbp ``Sequential``.

The modules it takes, and the fastbp layers they become, are listed in
``fastbp.torch_export``; the weights go through ``fastbp.state_dict``.
"""

import numpy as np

from . import layers as L
from .sequential import Sequential
from .state_dict import load_state_dict
from .torch_export import ACTIVATION_MODULES, residual_class, torch_module


def from_torch(module, loss="mse", *, seed=0, alpha=0.0):
    """A fastbp ``Sequential`` with the layers and weights of a ``torch.nn.Sequential``.

    Parameters
    ----------
    module : torch.nn.Sequential
        Of the modules in this module's table (nested ``Sequential`` s are
        flattened); float32 or float64 parameters.
    loss : str, default "mse"
        As in ``fastbp.Sequential``; with "cross_entropy" ``predict`` gives
        softmax probabilities, so leave a final ``Softmax`` out of ``module``.
    seed, alpha
        As in ``fastbp.Sequential``.

    Returns
    -------
    fastbp.Sequential
        Its ``predict`` equals ``module.eval()(x)`` (with the loss's output
        function) to rounding; it trains on from these weights.

    Raises
    ------
    ValueError
        For a module fastbp has no layer for, naming it, and for settings
        fastbp's layers do not have (a LeakyReLU slope other than 0.01 ...).
    """
    torch = torch_module()
    if not isinstance(module, torch.nn.Sequential):
        raise ValueError(f"from_torch takes a torch.nn.Sequential, not {type(module).__name__}")
    dtypes = {str(t.dtype) for t in [*module.parameters(), *module.buffers()] if t.is_floating_point()}
    if len(dtypes) > 1 or not dtypes <= {"torch.float32", "torch.float64"}:
        raise ValueError(f"the module's tensors must all be float32 or all float64, not {sorted(dtypes)}")
    tensors = {}
    layers, n_in = _layers(torch, module, "", tensors)
    if n_in is None:
        raise ValueError("the module has no Linear, LayerNorm or BatchNorm1d that gives its input width")
    dtype = "float64" if dtypes == {"torch.float64"} else "float32"
    net = Sequential(n_in, layers, loss=loss, dtype=dtype, seed=seed, alpha=alpha)
    return load_state_dict(net, tensors, "the module")


def _layers(torch, module, prefix, tensors, n_in=None):
    """(fastbp layers, input width) of ``module``'s children; their weights go into ``tensors`` under
    fastbp's names (``prefix`` + index, in PyTorch's layout)."""
    nn, out = torch.nn, []
    for path, child in _flattened(torch, module):
        name = f"{prefix}{len(out)}"
        kind = type(child).__name__
        if isinstance(child, residual_class()):
            inner, inner_in = _layers(torch, child, f"{name}.", tensors)
            n_in = inner_in if n_in is None else n_in
            out.append(L.Residual(*inner))
            continue
        if isinstance(child, nn.Linear):
            n_in = child.in_features if n_in is None else n_in
            out.append(L.Dense(child.out_features, bias=child.bias is not None))
        elif isinstance(child, nn.LayerNorm):
            if len(child.normalized_shape) != 1:
                shape = tuple(child.normalized_shape)
                raise ValueError(f"{path}: LayerNorm over {shape}; fastbp's normalises each row's features")
            n_in = child.normalized_shape[0] if n_in is None else n_in
            out.append(L.LayerNorm(eps=child.eps))
            _affine(child, child.normalized_shape[0], f"{name}.", tensors)
            continue
        elif isinstance(child, nn.BatchNorm1d):
            if child.momentum is None or not child.track_running_stats:
                raise ValueError(f"{path}: BatchNorm1d needs track_running_stats and a momentum (not None)")
            n_in = child.num_features if n_in is None else n_in
            out.append(L.BatchNorm(momentum=child.momentum, eps=child.eps))
            _affine(child, child.num_features, f"{name}.", tensors)
            for key in ("running_mean", "running_var"):
                tensors[f"{name}.{key}"] = getattr(child, key).detach().cpu().numpy()
            continue
        elif isinstance(child, nn.Dropout):
            out.append(L.Dropout(child.p))
        else:
            out.append(_activation_layer(nn, path, child, kind))
        for key, value in child.named_parameters(recurse=False):
            tensors[f"{name}.{key}"] = value.detach().cpu().numpy()
    return out, n_in


def _affine(child, width, prefix, tensors):
    """A norm's scale and shift; 1 and 0 where the module has none (``elementwise_affine=False`` ...)."""
    for key, fill in (("weight", 1.0), ("bias", 0.0)):
        value = getattr(child, key, None)
        tensors[prefix + key] = np.full(width, fill) if value is None else value.detach().cpu().numpy()


def _activation_layer(nn, path, child, kind):
    checks = {
        "LeakyReLU": ("negative_slope", 0.01), "ELU": ("alpha", 1.0), "GELU": ("approximate", "none"),
    }  # fmt: skip
    if kind in checks:
        attribute, wanted = checks[kind]
        if getattr(child, attribute) != wanted:
            found = getattr(child, attribute)
            raise ValueError(f"{path}: {kind} with {attribute}={found!r}; fastbp's has {wanted!r}")
    if kind == "Softplus" and (child.beta != 1 or child.threshold != 20):
        found = f"beta={child.beta}, threshold={child.threshold}"
        raise ValueError(f"{path}: Softplus({found}); fastbp's has beta=1, threshold=20")
    names = {module: name for name, module in ACTIVATION_MODULES.items()}
    if kind not in names or not isinstance(child, getattr(nn, kind)):
        hint = ""
        if kind == "Softmax":
            hint = " (leave the final Softmax out: loss='cross_entropy' applies it in predict)"
        raise ValueError(
            f"{path}: {kind} has no fastbp layer{hint}; supported: Linear, {', '.join(names)}, Dropout, "
            "LayerNorm, BatchNorm1d, fastbp.torch_export.Residual and nested Sequential"
        )
    return L.ACTIVATION_LAYERS[names[kind]]()


def _flattened(torch, module, prefix=""):
    """``(path, module)`` of ``module``'s children, nested plain ``Sequential`` s opened in place."""
    for key, child in module.named_children():
        path = f"{prefix}{key}"
        if type(child) is torch.nn.Sequential:
            yield from _flattened(torch, child, f"{path}.")
        else:
            yield path, child


__all__ = ["from_torch"]
