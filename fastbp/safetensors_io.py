"""safetensors files: the network's ``state_dict`` in PyTorch's names and layout, its plan in the metadata.

A PyTorch user loads the weights with
``module.load_state_dict(safetensors.torch.load_file(path))`` into the
module ``net.to_torch()`` builds, without pickle; ``load_safetensors``
rebuilds the fastbp network from the metadata alone, without torch.  The
metadata key ``"fastbp"`` holds the network's constructor arguments and
plan (JSON), checked like any untrusted file by ``fastbp.model``.

This module needs the ``safetensors`` package (``pip install "fastbp[safetensors]"``).
"""

import json

from . import io
from .state_dict import state_dict

METADATA_KEY = "fastbp"


def _safetensors_numpy():
    try:
        import safetensors.numpy
    except ImportError:
        raise ImportError(
            'safetensors files need the safetensors package: pip install "fastbp[safetensors]"'
        ) from None
    return safetensors.numpy


def save(net, path):
    """Write ``net`` to ``path`` (atomically) as a safetensors file; see the module's docstring."""
    st = _safetensors_numpy()
    header = {
        "config": net._config(),
        "plan": {"n_in": net.plan.n_in, "layers": [layer.config() for layer in net.plan.layers]},
        "epochs_trained": net.epochs_trained,
    }
    metadata = {METADATA_KEY: json.dumps(header, sort_keys=True), "format": "pt"}
    io.write_atomically(path, [st.save(state_dict(net), metadata=metadata)])


def read(path):
    """``(header, tensors)`` of a file of ``save``: the metadata's JSON (``config``, ``plan``,
    ``epochs_trained``) and ``{name: ndarray}``.  ``fastbp.model.load_safetensors`` builds the network.

    Raises
    ------
    fastbp.io.ModelFileError
        A file that is not safetensors, or has no fastbp metadata.
    """
    st = _safetensors_numpy()
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            metadata = f.metadata() or {}
        tensors = st.load_file(path)
    except (SafetensorError, OSError) as exc:
        if isinstance(exc, FileNotFoundError):
            raise
        raise io.ModelFileError(f"{path}: not a readable safetensors file ({exc})") from None
    if METADATA_KEY not in metadata:
        raise io.ModelFileError(
            f"{path}: a safetensors file without fastbp's metadata; fastbp.from_torch builds a network "
            "from a PyTorch module and its weights"
        )
    try:
        header = json.loads(metadata[METADATA_KEY])
    except ValueError as exc:
        raise io.ModelFileError(f"{path}: fastbp's metadata is not JSON ({exc})") from None
    if not isinstance(header, dict) or "config" not in header:
        raise io.ModelFileError(f"{path}: fastbp's metadata describes no network")
    return header, tensors


__all__ = ["save", "read"]
