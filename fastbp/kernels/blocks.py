"""Where a layer's block lives in a work buffer, shared by the row-major and feature-major passes."""

from .._jit import jit


@jit
def block(buf, act_off, layer, rows, width):
    """Layer ``layer``'s ``rows * width`` values in ``buf`` (1-D)."""
    start = act_off[layer]
    return buf[start : start + rows * width]


@jit
def layer_input(x, abuf, hbuf, act_off, sizes, drop, layer, rows, feature_major):
    """The input of ``layer``: ``x`` for the first, else the previous layer's activations.

    Activations after dropout when that layer has it.  The block is shaped
    (rows, width), or (width, rows) when ``feature_major``.
    """
    if layer == 0:
        return x
    width = sizes[layer]
    source = hbuf if drop[layer - 1] > 0.0 else abuf
    flat = block(source, act_off, layer - 1, rows, width)
    return flat.reshape(width, rows) if feature_major else flat.reshape(rows, width)
