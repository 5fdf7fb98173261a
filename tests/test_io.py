"""Model files: round trip, atomic save, and refusal of damaged or foreign files."""

import json

import numpy as np
import pytest

import fastbp
from fastbp import io


@pytest.fixture
def trained(rng):
    net = fastbp.MLP([4, 7, 3], activation=["gelu"], loss="cross_entropy", dropout=0.1, alpha=1e-3, seed=3)
    X = rng.normal(size=(50, 4)).astype(np.float32)
    net.fit(X, rng.integers(0, 3, size=50), epochs=2, batch_size=8)
    return net, X


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_round_trip_gives_identical_predictions(tmp_path, rng, dtype):
    net = fastbp.MLP(
        [3, 5, 4, 2], activation=["tanh", "silu"], loss="huber", output="tanh", dtype=dtype, seed=1
    )
    X = rng.normal(size=(9, 3))
    path = tmp_path / "net.fbp"
    net.save(path)
    loaded = fastbp.load(path)
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))
    assert loaded._config() == net._config()


def test_save_replaces_atomically_and_an_interrupted_save_keeps_the_old_file(tmp_path, trained, monkeypatch):
    net, X = trained
    path = tmp_path / "net.fbp"
    net.save(path)
    original = path.read_bytes()

    def failing_fsync(fd):
        raise OSError("disk full")

    monkeypatch.setattr(io.os, "fsync", failing_fsync)
    net.params[:] = 0
    with pytest.raises(OSError, match="disk full"):
        net.save(path)
    assert path.read_bytes() == original
    assert [p.name for p in tmp_path.iterdir()] == ["net.fbp"]  # no temporary file left behind


def _rewrite(path, header_edit=None, data_edit=None, reseal=True):
    """Edit a saved file; ``reseal`` recomputes the checksum, so that only the other checks can object."""
    blob = path.read_bytes()
    start = len(io.MAGIC) + 8
    n = int.from_bytes(blob[len(io.MAGIC) : start], "little")
    header, data = json.loads(blob[start : start + n]), blob[start + n :]
    if header_edit:
        header_edit(header)
    if data_edit:
        data = data_edit(data)
    if reseal:
        header["sha256"] = io._checksum(header, data)
    encoded = json.dumps(header).encode()
    path.write_bytes(io.MAGIC + len(encoded).to_bytes(8, "little") + encoded + data)


def test_damaged_or_foreign_files_are_refused(tmp_path, trained):
    net, _ = trained
    path = tmp_path / "net.fbp"
    cases = {
        "wrong magic": (lambda p: p.write_bytes(b"PK\x03\x04" + p.read_bytes()[4:]), "magic"),
        "numpy pickle": (
            lambda p: (
                np.save(p.with_suffix(".npy"), np.array([object()]), allow_pickle=True)
                or p.write_bytes(p.with_suffix(".npy").read_bytes())
            ),
            "magic",
        ),
        "truncated": (lambda p: p.write_bytes(p.read_bytes()[:-5]), "bytes of data"),
        "extra bytes": (lambda p: p.write_bytes(p.read_bytes() + b"\x00" * 8), "bytes of data"),
        "flipped data bit": (
            lambda p: _rewrite(p, data_edit=lambda d: bytes([d[0] ^ 1]) + d[1:], reseal=False),
            "checksum",
        ),
        "edited loss": (
            lambda p: _rewrite(p, lambda h: h["config"].update(loss="mae"), reseal=False),
            "checksum",
        ),
        "edited alpha": (
            lambda p: _rewrite(p, lambda h: h["config"].update(alpha=9.5), reseal=False),
            "checksum",
        ),
        "config not an object": (lambda p: _rewrite(p, lambda h: h.update(config=[1, 2])), "malformed"),
        "boolean version": (lambda p: _rewrite(p, lambda h: h.update(format_version=True)), "malformed"),
        "bad epochs_trained": (lambda p: _rewrite(p, lambda h: h.update(epochs_trained="x")), "malformed"),
        "newer format": (lambda p: _rewrite(p, lambda h: h.update(format_version=4)), "version 4 is newer"),
        "older format": (lambda p: _rewrite(p, lambda h: h.update(format_version=1)), "not supported"),
        "shape mismatch": (
            lambda p: _rewrite(p, lambda h: h["config"].update(sizes=[4, 8, 3]) or h.pop("plan")),
            "parameters",
        ),
        "plan and config disagree": (
            lambda p: _rewrite(p, lambda h: h["config"].update(sizes=[4, 8, 3])),
            "stored plan is not the network its config describes",
        ),
        "bad header": (lambda p: p.write_bytes(io.MAGIC + (5).to_bytes(8, "little") + b"{nope"), "malformed"),
        "object array": (lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(1, "object")), "only"),
        "pickled array dtype": (lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(1, "O")), "only"),
        "listing shape off": (
            lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(2, [h["arrays"][0][2][0] + 1])),
            "bytes of data",
        ),
        "params missing": (
            lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(0, "other")),
            "holds None",
        ),
    }
    for damage, message in cases.values():
        net.save(path)
        damage(path)
        with pytest.raises(io.ModelFileError, match=message):
            fastbp.load(path)


def _raw_header(path, header_bytes, length=None):
    """A file of the magic, a header length (by default the true one) and these header bytes."""
    length = len(header_bytes) if length is None else length
    path.write_bytes(io.MAGIC + length.to_bytes(8, "little") + header_bytes)


HEADER_DAMAGE = {
    "shorter than magic and length": (lambda p: p.write_bytes(io.MAGIC + b"\x01\x02"), "truncated header"),
    "only the magic": (lambda p: p.write_bytes(io.MAGIC), "truncated header"),
    "length beyond the file": (
        lambda p: p.write_bytes(io.MAGIC + (10**6).to_bytes(8, "little") + p.read_bytes()[16:]),
        "truncated or oversized header",
    ),
    "oversized length": (  # a file long enough to hold it: only the size limit objects
        lambda p: _raw_header(p, b"{}" + b" " * (1 << 24)),
        "truncated or oversized header",
    ),
    "JSON array": (lambda p: _raw_header(p, b"[1, 2, 3]"), "the header must be a JSON object"),
    "JSON string": (lambda p: _raw_header(p, b'"fastbp"'), "the header must be a JSON object"),
    "not UTF-8": (lambda p: _raw_header(p, b"\xff\xfe{}"), "malformed header"),
    "no format version": (lambda p: _rewrite(p, lambda h: h.pop("format_version")), "malformed header"),
    "no checksum": (lambda p: _rewrite(p, lambda h: h.pop("sha256"), reseal=False), "malformed header"),
    "extra not an object": (lambda p: _rewrite(p, lambda h: h.update(extra=[1])), "malformed header"),
    "negative epochs_trained": (lambda p: _rewrite(p, lambda h: h.update(epochs_trained=-1)), "malformed"),
    "hidden width 0": (
        lambda p: _rewrite(p, lambda h: h["config"].update(sizes=[4, 0, 3])),
        r"header describes an invalid network \(sizes must be",
    ),
    "unknown activation": (
        lambda p: _rewrite(p, lambda h: h["config"].update(activation=["swish"])),
        "header describes an invalid network .*unknown activation",
    ),
    "unknown config field": (
        lambda p: _rewrite(p, lambda h: h["config"].update(momentum=0.9)),
        "header describes an invalid network .*momentum",
    ),
    "arrays not a list": (
        lambda p: _rewrite(p, lambda h: h.update(arrays={"params": 1})),
        "arrays must be a list",
    ),
    "entry of two fields": (
        lambda p: _rewrite(p, lambda h: h["arrays"][0].pop()),
        r"each array entry must be \[name, dtype, shape\]",
    ),
    "entry not a list": (
        lambda p: _rewrite(p, lambda h: h["arrays"].__setitem__(0, "params")),
        r"each array entry must be \[name, dtype, shape\]",
    ),
    "entry with a numeric name": (
        lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(0, 7)),
        r"each array entry must be \[name, dtype, shape\]",
    ),
    "negative shape": (
        lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(2, [-5])),
        "array 'params' has a malformed shape",
    ),
    "fractional shape": (
        lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(2, [2.5])),
        "array 'params' has a malformed shape",
    ),
    "boolean shape": (
        lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(2, [True])),
        "array 'params' has a malformed shape",
    ),
    "shape not a list": (
        lambda p: _rewrite(p, lambda h: h["arrays"][0].__setitem__(2, 59)),
        "array 'params' has a malformed shape",
    ),
}


@pytest.mark.parametrize("damage,message", HEADER_DAMAGE.values(), ids=HEADER_DAMAGE.keys())
def test_malformed_headers_are_refused_with_a_message(damage, message, tmp_path, trained):
    """Each header check of ``io.read`` and ``network_from``: a ModelFileError naming the file, the fault."""
    net, _ = trained
    path = tmp_path / "net.fbp"
    net.save(path)
    damage(path)
    with pytest.raises(io.ModelFileError, match=message) as caught:
        fastbp.load(path)
    assert str(caught.value).startswith(f"{path}: ")


def test_resealing_an_undamaged_file_keeps_it_loadable(tmp_path, trained):
    """The helper the tests above use changes nothing by itself: only the edits make those files bad."""
    net, X = trained
    path = tmp_path / "net.fbp"
    net.save(path)
    _rewrite(path)
    loaded = fastbp.load(path)
    np.testing.assert_array_equal(loaded.params, net.params)
    np.testing.assert_array_equal(loaded.predict(X), net.predict(X))


def test_saved_file_follows_the_umask(tmp_path, trained):
    import os
    import stat

    net, _ = trained
    old = os.umask(0o022)
    try:
        net.save(tmp_path / "net.fbp")
    finally:
        os.umask(old)
    assert stat.S_IMODE((tmp_path / "net.fbp").stat().st_mode) == 0o644
