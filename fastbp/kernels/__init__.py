"""Compiled kernels over flat arrays: the op table and its passes, one module per op kind, losses, optimizers.

The kernels do not validate their arguments; the Python layer above them does.
"""
