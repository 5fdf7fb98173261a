"""Model files: a JSON header and the raw parameter bytes, with no pickle anywhere.

Layout of a ``.fbp`` file::

    8 bytes   magic  b"FASTBP\\x00\\x01"
    8 bytes   header length H, little-endian uint64
    H bytes   JSON header (UTF-8): format version, fastbp version, the network's
              constructor arguments, parameter count and dtype, SHA-256 of the data
    rest      the parameters, little-endian, C order

Saving writes a temporary file beside the target, flushes and fsyncs it, then
renames it over the target, so an interrupted save leaves the old file whole.
"""

import hashlib
import json
import os
import tempfile

import numpy as np

MAGIC = b"FASTBP\x00\x01"
FORMAT_VERSION = 1
_MAX_HEADER = 1 << 20


class ModelFileError(ValueError):
    """A model file that is not a valid fastbp file, or is damaged."""


def save(net, path):
    """Write ``net`` to ``path`` atomically.

    Parameters
    ----------
    net : fastbp.MLP
    path : str or os.PathLike
    """
    from . import __version__

    data = np.ascontiguousarray(net.params, dtype=net.params.dtype.newbyteorder("<")).tobytes()
    header = {
        "format_version": FORMAT_VERSION,
        "fastbp_version": __version__,
        "config": net._config(),
        "epochs_trained": net.epochs_trained,
        "n_params": int(net.n_params),
        "dtype": net.dtype.name,
        "sha256": hashlib.sha256(data).hexdigest(),
    }
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastbp-", suffix=".tmp", dir=folder)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(MAGIC)
            f.write(len(header_bytes).to_bytes(8, "little"))
            f.write(header_bytes)
            f.write(data)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def load(path):
    """Read a network written by ``MLP.save``.

    Parameters
    ----------
    path : str or os.PathLike

    Returns
    -------
    fastbp.MLP

    Raises
    ------
    ModelFileError
        Wrong magic, unsupported format version, malformed or inconsistent
        header, truncated data or checksum mismatch.
    """
    from .model import MLP

    with open(path, "rb") as f:
        blob = f.read()
    if blob[: len(MAGIC)] != MAGIC:
        raise ModelFileError(f"{path}: not a fastbp model file (wrong magic bytes)")
    start = len(MAGIC) + 8
    if len(blob) < start:
        raise ModelFileError(f"{path}: truncated header")
    header_len = int.from_bytes(blob[len(MAGIC) : start], "little")
    if header_len > _MAX_HEADER or len(blob) < start + header_len:
        raise ModelFileError(f"{path}: truncated or oversized header")
    try:
        header = json.loads(blob[start : start + header_len].decode("utf-8"))
        version = header["format_version"]
        config = header["config"]
        n_params = int(header["n_params"])
        dtype = np.dtype(header["dtype"]).newbyteorder("<")
        checksum = header["sha256"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: malformed header ({exc})") from None
    if version != FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {version} is not supported (this fastbp reads {FORMAT_VERSION})"
        )
    if dtype.name not in ("float32", "float64") or config.get("dtype") != dtype.name:
        raise ModelFileError(f"{path}: unsupported or inconsistent dtype {header['dtype']!r}")
    data = blob[start + header_len :]
    if len(data) != n_params * dtype.itemsize:
        raise ModelFileError(
            f"{path}: holds {len(data)} bytes of parameters, the header promises {n_params * dtype.itemsize}"
        )
    if hashlib.sha256(data).hexdigest() != checksum:
        raise ModelFileError(f"{path}: checksum mismatch, the file is damaged")
    try:
        net = MLP(**config)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: header describes an invalid network ({exc})") from None
    if net.n_params != n_params:
        raise ModelFileError(f"{path}: header sizes need {net.n_params} parameters, file has {n_params}")
    net.params[:] = np.frombuffer(data, dtype=dtype)
    net.epochs_trained = int(header.get("epochs_trained", 0))
    return net
