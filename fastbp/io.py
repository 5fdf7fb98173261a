"""Model files: a JSON header and the raw parameter bytes, with no pickle anywhere.

Layout of a ``.fbp`` file::

    8 bytes   magic  b"FASTBP\\x00\\x01"
    8 bytes   header length H, little-endian uint64
    H bytes   JSON header (UTF-8): format version, fastbp version, the network's
              constructor arguments, parameter count and dtype, and a SHA-256
              over the rest of the header and the data
    rest      the parameters, little-endian, C order

Saving writes a temporary file beside the target, flushes and fsyncs it, then
renames it over the target and fsyncs the folder, so an interrupted save
leaves the old file whole.
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


def _checksum(header, data):
    """SHA-256 of the header (without its checksum field, canonical JSON) followed by the data."""
    fields = {k: v for k, v in header.items() if k != "sha256"}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8"))
    digest.update(data)
    return digest.hexdigest()


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
    }
    header["sha256"] = _checksum(header, data)
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastbp-", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes the file private; a model file is not
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
    _fsync_folder(folder)  # make the rename itself durable


def _umask():
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync_folder(folder):
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:  # a platform whose folders cannot be opened
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


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
        n_params = header["n_params"]
        epochs_trained = header.get("epochs_trained", 0)
        checksum = header["sha256"]
        if not isinstance(config, dict) or not isinstance(checksum, str):
            raise TypeError("config must be an object and sha256 a string")
        for name, value in (
            ("format_version", version),
            ("n_params", n_params),
            ("epochs_trained", epochs_trained),
        ):
            if type(value) is not int or value < 0:
                raise TypeError(f"{name} must be a non-negative integer")
        dtype = np.dtype(header["dtype"]).newbyteorder("<")
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
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
    if _checksum(header, data) != checksum:
        raise ModelFileError(f"{path}: checksum mismatch, the file is damaged")
    try:
        net = MLP(**config)
    except (TypeError, ValueError) as exc:
        raise ModelFileError(f"{path}: header describes an invalid network ({exc})") from None
    if net.n_params != n_params:
        raise ModelFileError(f"{path}: header sizes need {net.n_params} parameters, file has {n_params}")
    net.params[:] = np.frombuffer(data, dtype=dtype)
    net.epochs_trained = epochs_trained
    return net
