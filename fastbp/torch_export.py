"""PyTorch out: ``Sequential.to_torch`` builds the equivalent ``torch.nn.Sequential``.

``fastbp.torch_import.from_torch`` goes the other way.  Module by module:

===================================  =====================================
PyTorch                              fastbp
===================================  =====================================
``Linear(i, n, bias)``               ``Dense(n, bias)`` (weight transposed)
``ReLU``, ``LeakyReLU(0.01)``,       the activation layers of the same name
``ELU(1.0)``, ``GELU("none")``,
``Sigmoid``, ``Tanh``,
``Softplus(1, 20)``, ``SiLU``,
``Identity``
``Dropout(p)``                       ``Dropout(p)``
``LayerNorm(n, eps)``                ``LayerNorm(eps)``
``BatchNorm1d(n, eps, momentum)``    ``BatchNorm(momentum, eps)``, with the
                                     running statistics
``fastbp.torch_export.Residual(...)``    ``Residual(...)``: x + f(x)
nested ``Sequential``                its modules, in place
===================================  =====================================

``from_torch`` refuses anything else with an error that names the module.  The weights
go through ``fastbp.state_dict``, the layout safetensors files use too.
``to_torch`` returns the network's layers only: the output function that
``predict`` applies (softmax, sigmoid) is the loss's business in PyTorch as
in fastbp (``nn.CrossEntropyLoss`` takes logits).

torch is optional: this module imports it only when called.
"""

from .state_dict import state_dict

Residual = None  # torch.nn.Module class, made on first use (torch is optional)

ACTIVATION_MODULES = {
    "relu": "ReLU", "leaky_relu": "LeakyReLU", "elu": "ELU", "gelu": "GELU", "sigmoid": "Sigmoid",
    "tanh": "Tanh", "softplus": "Softplus", "silu": "SiLU", "identity": "Identity",
}  # fmt: skip


def torch_module():
    try:
        import torch
    except ImportError:
        raise ImportError("this needs PyTorch; see the README for the CPU build to install") from None
    return torch


def residual_class():
    """``fastbp.torch_export.Residual``: an ``nn.Sequential`` whose ``forward`` is ``x + f(x)``."""
    global Residual
    if Residual is None:
        torch = torch_module()

        class _Residual(torch.nn.Sequential):
            """``x + f(x)``, f being this Sequential's modules: fastbp's ``Residual`` block."""

            def forward(self, x):
                return x + super().forward(x)

        _Residual.__name__ = _Residual.__qualname__ = "Residual"
        _Residual.__module__ = __name__
        Residual = _Residual
    return Residual


# ------------------------------------------------------------------ out
def to_torch(net):
    """``net`` as a ``torch.nn.Sequential`` in eval mode, with its weights (in its dtype)."""
    torch = torch_module()
    modules = _modules(torch, net.plan.layers, net.plan.n_in)[0]
    module = torch.nn.Sequential(*modules).to(getattr(torch, net.dtype.name))
    module.load_state_dict({k: torch.from_numpy(v) for k, v in state_dict(net).items()}, strict=True)
    return module.eval()


def _modules(torch, layers, width):
    """The modules of ``layers`` on inputs of ``width`` features, and the width they end with."""
    nn, out = torch.nn, []
    for layer in layers:
        kind = layer.kind
        if kind == "dense":
            out.append(nn.Linear(width, layer.n, bias=layer.bias))
            width = layer.n
        elif kind in ACTIVATION_MODULES:
            out.append(_activation_module(nn, kind))
        elif kind == "dropout":
            out.append(nn.Dropout(layer.p))
        elif kind == "layer_norm":
            out.append(nn.LayerNorm(width, eps=layer.eps))
        elif kind == "batch_norm":
            out.append(nn.BatchNorm1d(width, eps=layer.eps, momentum=layer.momentum))
        elif kind == "residual":
            out.append(residual_class()(*_modules(torch, layer.layers, width)[0]))
        else:
            raise ValueError(f"no PyTorch module for the layer kind {kind!r}")
    return out, width


def _activation_module(nn, kind):
    if kind == "leaky_relu":
        return nn.LeakyReLU(0.01)
    if kind == "elu":
        return nn.ELU(1.0)
    if kind == "gelu":
        return nn.GELU(approximate="none")
    if kind == "softplus":
        return nn.Softplus(beta=1.0, threshold=20.0)
    return getattr(nn, ACTIVATION_MODULES[kind])()


__all__ = ["to_torch", "residual_class", "ACTIVATION_MODULES", "torch_module"]
