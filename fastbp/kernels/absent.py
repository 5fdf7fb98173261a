"""Stand-ins for the op kinds a plan does not use: no-ops with the signatures of the real kernels.

A network of dense layers and activations (and dropout) runs passes compiled
with these in place of ``layer_norm``, ``batch_norm``, ``residual`` (and
``dropout``) (see ``network.PASSES``): the code it never runs is then never
compiled, and compiling is most of a first run's time.
"""

from .._jit import jit


@jit
def forward(net, op, ch):
    pass


@jit
def backward(net, op, ch):
    pass


@jit
def partial_mean(net, op, ch):
    pass


@jit
def partial_var(net, op, ch):
    pass


@jit
def backward_partials(net, op, ch):
    pass


@jit
def reduce_mean(net, op, stats, partials, n_chunks, n):
    pass


@jit
def reduce_var(net, op, stats, partials, n_chunks, n):
    pass


@jit
def reduce_grad(net, op, stats, grads, n_chunks):
    pass


@jit
def update_running(net, stats, n):
    pass


@jit
def barrier_after(net, op, mode):
    """No op needs the whole batch: the pass has one stage."""
    return net.ops.shape[0]


@jit
def barrier_before(net, op, mode):
    return -1
