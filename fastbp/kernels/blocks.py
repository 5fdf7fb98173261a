"""Where an op's blocks live in the work buffers: the one place that computes a block's slice.

A block of per-row offset ``off`` and width ``width`` holds ``width * rows``
values at ``off * rows``; it is read as (rows, width) in a row-major pass and
as (width, rows) in a feature-major one.  An input offset of -1 is the pass's
input ``x``.
"""

from .._jit import jit


@jit
def source(ch, off, width):
    """The input block of an op (1-D): ``x`` when ``off`` is -1."""
    if off < 0:
        return ch.x[: ch.rows * width]
    return ch.acts[off * ch.rows : (off + width) * ch.rows]


@jit
def output(ch, off, width):
    """The output block at ``off`` (1-D)."""
    return ch.acts[off * ch.rows : (off + width) * ch.rows]


@jit
def delta(ch, off, width):
    """The gradient of the block at ``off`` (1-D)."""
    return ch.deltas[off * ch.rows : (off + width) * ch.rows]


@jit
def matrix(flat, ch, width):
    """``flat`` as (rows, width), or (width, rows) in a feature-major pass."""
    if ch.fm:
        return flat.reshape(width, ch.rows)
    return flat.reshape(ch.rows, width)


@jit
def param_block(params, start, length):
    """``length`` parameters from ``start``; empty when ``start`` is -1 (no bias)."""
    if start < 0:
        return params[:0]
    return params[start : start + length]


@jit
def add_into(dst, src):
    """dst += src, both 1-D of one length."""
    for i in range(dst.size):
        dst[i] += src[i]
