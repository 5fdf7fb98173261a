"""Model and checkpoint files: a JSON header and raw arrays, with no pickle anywhere.

Layout of a ``.fbp`` file::

    8 bytes   magic  b"FASTBP\\x00\\x01"
    8 bytes   header length H, little-endian uint64
    H bytes   JSON header (UTF-8): format version, fastbp version, the network's
              constructor arguments (``config``, with its ``class``), its
              plan (the input width and every layer's spec), the list of
              arrays that follow (name,
              dtype, shape), free-form ``extra`` fields (preprocessing, a
              checkpoint's training progress) and a SHA-256 over the rest of
              the header and the data
    rest      the arrays, one after another, little-endian, C order

Every file holds a ``params`` array, and a ``buffers`` array (the running
statistics of BatchNorm layers) when the network has any; a checkpoint adds
the optimizer state.  Format 3 added the class and the plan; format 2 files
(MLPs only) still load.
Only float32, float64 and int64 arrays are accepted, so there is nothing to
unpickle and nothing to run.  Saving writes a temporary file beside the
target, flushes and fsyncs it, then renames it over the target and fsyncs the
folder, so an interrupted save leaves the old file whole.
"""

import hashlib
import json
import math
import os
import tempfile
from dataclasses import dataclass

import numpy as np

from ._version import __version__

MAGIC = b"FASTBP\x00\x01"
FORMAT_VERSION = 3
READABLE_VERSIONS = (2, 3)
ARRAY_DTYPES = ("float32", "float64", "int64")
_MAX_HEADER = 1 << 24


class ModelFileError(ValueError):
    """A model file that is not a valid fastbp file, or is damaged."""


@dataclass
class ModelFile:
    """What a file holds: its JSON ``header`` and its named ``arrays``."""

    header: dict
    arrays: dict


def _checksum(header, data):
    """SHA-256 of the header (without its checksum field, canonical JSON) followed by the data."""
    fields = {k: v for k, v in header.items() if k != "sha256"}
    digest = hashlib.sha256(json.dumps(fields, sort_keys=True).encode("utf-8"))
    digest.update(data)
    return digest.hexdigest()


def save(net, path, extra=None, arrays=None):
    """Write ``net`` to ``path`` atomically.

    Parameters
    ----------
    net : fastbp.MLP
    path : str or os.PathLike
    extra : dict, optional
        JSON-serialisable fields stored in the header under ``extra``.
    arrays : dict of str to ndarray, optional
        More arrays to store beside ``params`` (float32, float64 or int64).
    """
    write(path, net, extra or {}, {**network_arrays(net), **(arrays or {})})


def network_arrays(net):
    """The arrays that hold a network's state: ``params``, and ``buffers`` when it has running statistics."""
    arrays = {"params": net.params}
    if net.running_stats.size:
        arrays["buffers"] = net.running_stats
    return arrays


def write(path, net, extra, arrays):
    """Write the header of ``net``, ``extra`` and the named ``arrays`` atomically to ``path``."""
    listing, chunks = [], []
    for name, array in arrays.items():
        array = np.asarray(array)
        if array.dtype.name not in ARRAY_DTYPES:
            raise TypeError(f"array {name!r} has dtype {array.dtype}; files hold only {ARRAY_DTYPES}")
        listing.append([name, array.dtype.name, list(array.shape)])
        chunks.append(np.ascontiguousarray(array, dtype=array.dtype.newbyteorder("<")).tobytes())
    data = b"".join(chunks)
    header = {
        "format_version": FORMAT_VERSION,
        "fastbp_version": __version__,
        "config": net._config(),
        "plan": {"n_in": net.plan.n_in, "layers": [layer.config() for layer in net.plan.layers]},
        "epochs_trained": net.epochs_trained,
        "arrays": listing,
        "extra": extra,
    }
    header["sha256"] = _checksum(header, data)
    header_bytes = json.dumps(header, sort_keys=True).encode("utf-8")
    write_atomically(path, [MAGIC, len(header_bytes).to_bytes(8, "little"), header_bytes, data])


def write_atomically(path, chunks):
    """Write the byte strings ``chunks`` to ``path``: into a temporary file beside it, flushed and
    fsynced, then renamed over it, so an interrupted write leaves any old file whole."""
    path = os.fspath(path)
    folder = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(prefix=".fastbp-", suffix=".tmp", dir=folder)
    try:
        os.fchmod(fd, 0o666 & ~_umask())  # mkstemp makes the file private; a model file is not
        with os.fdopen(fd, "wb") as f:
            for chunk in chunks:
                f.write(chunk)
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


def _check_listing(listing):
    """``[(name, dtype, shape, nbytes)]`` from the header's array list, or a TypeError."""
    if not isinstance(listing, list):
        raise TypeError("arrays must be a list")
    entries = []
    for entry in listing:
        if not (isinstance(entry, list) and len(entry) == 3 and isinstance(entry[0], str)):
            raise TypeError("each array entry must be [name, dtype, shape]")
        name, dtype, shape = entry
        if dtype not in ARRAY_DTYPES:
            raise TypeError(f"array {name!r} has dtype {dtype!r}; only {ARRAY_DTYPES} are read")
        if not isinstance(shape, list) or any(type(s) is not int or s < 0 for s in shape):
            raise TypeError(f"array {name!r} has a malformed shape {shape!r}")
        dt = np.dtype(dtype).newbyteorder("<")
        entries.append((name, dt, tuple(shape), math.prod(shape) * dt.itemsize))
    return entries


def read(path):
    """Read and check any fastbp file; returns a ``ModelFile``.

    Raises
    ------
    ModelFileError
        Wrong magic, a format version this fastbp does not read (it reads 2 and 3), a malformed
        or inconsistent header, an array dtype other than float32, float64
        or int64, truncated or extra data, or a checksum mismatch.
    """
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
        if not isinstance(header, dict):
            raise TypeError("the header must be a JSON object")
        version = header["format_version"]
        if type(version) is not int:
            raise TypeError("format_version must be an integer")
    except (ValueError, KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: malformed header ({exc})") from None
    except RecursionError:
        raise ModelFileError(f"{path}: malformed header (nested too deeply)") from None
    if version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path}: format version {version} is newer than this fastbp reads ({FORMAT_VERSION}); "
            "upgrade fastbp to load it"
        )
    if version not in READABLE_VERSIONS:
        raise ModelFileError(
            f"{path}: format version {version} is not supported (this fastbp reads {READABLE_VERSIONS})"
        )
    try:
        config, checksum, extra = header["config"], header["sha256"], header.get("extra", {})
        if not isinstance(config, dict) or not isinstance(checksum, str) or not isinstance(extra, dict):
            raise TypeError("config and extra must be objects and sha256 a string")
        epochs_trained = header.get("epochs_trained", 0)
        if type(epochs_trained) is not int or epochs_trained < 0:
            raise TypeError("epochs_trained must be a non-negative integer")
        entries = _check_listing(header["arrays"])
    except (KeyError, TypeError) as exc:
        raise ModelFileError(f"{path}: malformed header ({exc})") from None
    data = blob[start + header_len :]
    expected = sum(e[3] for e in entries)
    if len(data) != expected:
        raise ModelFileError(f"{path}: holds {len(data)} bytes of data, the header promises {expected}")
    if _checksum(header, data) != checksum:
        raise ModelFileError(f"{path}: checksum mismatch, the file is damaged")
    arrays, offset = {}, 0
    for name, dt, shape, nbytes in entries:
        count = nbytes // dt.itemsize
        arrays[name] = np.frombuffer(data, dtype=dt, count=count, offset=offset).reshape(shape)
        offset += nbytes
    return ModelFile(header, arrays)
