"""A network's weights as PyTorch lays them out: the ``state_dict`` of the equivalent ``nn.Sequential``.

Names are those of ``Sequential.parameters()`` and ``buffers()`` (layer
indices, ``"3.0.weight"`` inside the residual block at index 3).  A dense
weight is stored (out, in), as ``torch.nn.Linear`` holds it (fastbp keeps
it (in, out)); a BatchNorm adds ``num_batches_tracked`` (0: fastbp does not
count batches).  ``fastbp.safetensors_io`` and ``fastbp.torch_io`` go
through here, so both speak the same layout.  No torch needed.
"""

import math

import numpy as np


def _is_dense_weight(shape):
    return len(shape) == 2


def state_dict(net):
    """``{name: ndarray}`` of ``net`` in PyTorch's layout (copies, in the network's dtype)."""
    out = {}
    for name, view in net.parameters():
        out[name] = np.ascontiguousarray(view.T) if _is_dense_weight(view.shape) else view.copy()
    for name, view in net.buffers():
        out[name] = view.copy()
        if name.endswith(".running_var"):
            out[name[: -len("running_var")] + "num_batches_tracked"] = np.array(0, dtype=np.int64)
    return out


def load_state_dict(net, arrays, source="state dict"):
    """Set ``net``'s parameters and running statistics from ``arrays`` in PyTorch's layout.

    Every name must be there with its shape; values are converted to the
    network's dtype and must be finite.  Nothing is changed unless all of
    them are.  Raises ValueError naming the first problem.
    """
    wanted = [(n, o, s, net.params) for n, o, s in net.plan.parameter_names]
    wanted += [(n, o, s, net.running_stats) for n, o, s in net.plan.buffer_names]
    known = {n for n, *_ in wanted}
    extra = [k for k in arrays if k not in known and not k.endswith(".num_batches_tracked")]
    if extra:
        message = f"{source}: {extra[0]!r} is not a tensor of this network; it has {sorted(known)}"
        raise ValueError(message[:400])
    staged = []
    for name, offset, shape, target in wanted:
        if name not in arrays:
            raise ValueError(f"{source}: no tensor {name!r}")
        value = np.asarray(arrays[name])
        torch_shape = tuple(reversed(shape)) if _is_dense_weight(shape) else tuple(shape)
        if value.shape != torch_shape:
            raise ValueError(f"{source}: {name!r} has shape {value.shape}, the network needs {torch_shape}")
        if value.dtype.kind != "f":
            raise ValueError(f"{source}: {name!r} holds {value.dtype}, not floating point numbers")
        value = value.astype(net.dtype)
        if not np.isfinite(value).all():
            raise ValueError(f"{source}: {name!r} holds NaN or infinite values")
        staged.append((target, offset, (value.T if _is_dense_weight(shape) else value).ravel()))
    for target, offset, flat in staged:
        target[offset : offset + math.prod(flat.shape)] = flat
    return net


__all__ = ["state_dict", "load_state_dict"]
