"""Compiled kernels over flat arrays: dense layers, activations, losses, optimizers.

The kernels do not validate their arguments; the Python layer above them does.
"""
