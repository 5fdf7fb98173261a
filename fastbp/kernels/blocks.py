"""Where an op's blocks live in the work buffers: the one place that computes a block's slice.

A block of per-row offset ``off`` and width ``width`` holds ``width * rows``
values at ``off * rows``; it is read as (rows, width) in a row-major pass and
as (width, rows) in a feature-major one.  The pass's input x is the block at
``table.X_BLOCK``: every pass copies it there rather than reading it where it
lies, since choosing between two arrays costs an unprunable reference-count
pair, ~35 ns (measured), on every op of every pass.
"""

from numba.core import cgutils, types
from numba.extending import intrinsic

from .._jit import jit, jit_inline


@intrinsic
def borrowed(typingctx, array):
    """A view of ``array`` that carries no reference count, for use inside one compiled call.

    Every array numba passes to a function that is not inlined, or slices,
    costs an atomic increment and decrement of its owner's count.  Chunks
    running on several threads share the owners of the work buffers and the
    parameters, so those atomics contend: on the chains grid case (4-32-16-4,
    10,000 rows) a pass spent about 4 us per chunk on them with two threads.
    A borrowed view's owner pointer is null, which numba's reference
    counting skips, and views sliced from it are borrowed too.  It must not
    outlive ``array``: the passes borrow what their caller holds for the
    whole call, and never return a borrowed view to Python.
    """
    if not isinstance(array, types.Array):
        return None

    def codegen(context, builder, signature, args):
        view = context.make_array(array)(context, builder, value=args[0])
        view.meminfo = cgutils.get_null_value(view.meminfo.type)
        view.parent = cgutils.get_null_value(view.parent.type)
        return view._getvalue()

    return array(array), codegen


@jit_inline
def block(buf, off, rows, width):
    """The block at per-row offset ``off`` of a pass of ``rows`` rows in ``buf`` (1-D).

    Op kernels call this with the chunk's ``acts`` or ``deltas``, never with
    the chunk itself: handing a bundle of arrays to a function costs a
    reference-count pair per array in it, which on a 32-row dense op was a
    third of the op's time (measured: 545 against 398 ns).
    """
    return buf[off * rows : (off + width) * rows]


@jit_inline
def matrix(flat, fm, rows, width):
    """``flat`` as (rows, width), or (width, rows) when ``fm`` (a feature-major pass)."""
    # one reshape of computed dimensions: a branch between two reshaped arrays costs ~35 ns a call
    # (measured), a tenth of a small op
    first, second = (width, rows) if fm else (rows, width)
    return flat.reshape(first, second)


@jit_inline
def param_block(params, start, length):
    """``length`` parameters from ``start``; empty when ``start`` is -1 (no bias)."""
    present = start >= 0
    first = start if present else 0
    return params[first : first + (length if present else 0)]  # no branch between two arrays (see matrix)


@jit
def add_into(dst, src):
    """dst += src, both 1-D of one length."""
    for i in range(dst.size):
        dst[i] += src[i]
