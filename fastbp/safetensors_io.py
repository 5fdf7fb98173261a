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


def read(path, wanted):
    """The header and tensors of a file of ``save``: ``wanted(header)`` is given the metadata's JSON
    (``config``, ``plan``, ``epochs_trained``) and returns ``{name: shape}`` of the tensors the network
    it describes needs, in PyTorch's layout; only after every one of them is found with that shape and
    a float dtype are they read.  Returns ``(header, {name: ndarray})``.

    Raises
    ------
    fastbp.io.ModelFileError
        A file that is not safetensors, has no fastbp metadata, or whose tensors are not those the
        metadata describes (checked before anything the size of a tensor is allocated).
    """
    _safetensors_numpy()
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(path, framework="numpy") as f:
            header = _header(path, f.metadata() or {})
            shapes = wanted(header)
            found = {}
            for name, shape in shapes.items():
                if name not in f.keys():
                    raise io.ModelFileError(f"{path}: no tensor {name!r}")
                piece = f.get_slice(name)
                if piece.get_dtype() not in ("F16", "F32", "F64"):
                    raise io.ModelFileError(f"{path}: {name!r} holds {piece.get_dtype()}, not float16/32/64")
                stored = tuple(piece.get_shape())
                if stored != tuple(shape):
                    raise io.ModelFileError(
                        f"{path}: {name!r} has shape {stored}, the network needs {tuple(shape)}"
                    )
            extra = [k for k in f.keys() if k not in shapes and not k.endswith(".num_batches_tracked")]
            if extra:
                raise io.ModelFileError(f"{path}: {extra[0]!r} is not a tensor of the network it describes")
            for name in shapes:
                found[name] = f.get_tensor(name)
    except (SafetensorError, OSError, TypeError, AttributeError, ValueError) as exc:
        if isinstance(exc, (FileNotFoundError, io.ModelFileError)):
            raise
        raise io.ModelFileError(f"{path}: not a readable safetensors file ({exc})"[:400]) from None
    return header, found


def _header(path, metadata):
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
    epochs = header.get("epochs_trained", 0)
    if type(epochs) is not int or epochs < 0:
        raise io.ModelFileError(f"{path}: epochs_trained must be an integer >= 0, got {epochs!r}"[:300])
    return header


__all__ = ["save", "read"]
