"""Where each weight and bias lives inside the flat parameter buffer."""

import numpy as np


class Layout:
    """Offsets and shapes of every layer's weights and biases in one flat buffer.

    Layer ``l`` maps ``sizes[l]`` inputs to ``sizes[l + 1]`` outputs.  Its weight
    matrix, of shape ``(sizes[l], sizes[l + 1])`` in C order, is followed by its
    bias vector of length ``sizes[l + 1]``; layers follow one another.
    Gradients and optimizer state use the same layout, so one loop over the
    buffer updates the whole network.

    Parameters
    ----------
    sizes : sequence of int
        Widths of the input, every hidden layer and the output.
    """

    def __init__(self, sizes):
        self.sizes = tuple(int(s) for s in sizes)
        n_layers = len(self.sizes) - 1
        self.weight_offsets = np.empty(n_layers, dtype=np.int64)
        self.bias_offsets = np.empty(n_layers, dtype=np.int64)
        offset = 0
        for layer in range(n_layers):
            fan_in, fan_out = self.sizes[layer], self.sizes[layer + 1]
            self.weight_offsets[layer] = offset
            offset += fan_in * fan_out
            self.bias_offsets[layer] = offset
            offset += fan_out
        self.n_params = offset
        self.sizes_array = np.asarray(self.sizes, dtype=np.int64)

    @property
    def n_layers(self):
        return len(self.sizes) - 1

    def weight_mask(self):
        """Boolean array, True where the flat buffer holds a weight (not a bias)."""
        mask = np.zeros(self.n_params, dtype=bool)
        for layer in range(self.n_layers):
            start = self.weight_offsets[layer]
            mask[start : start + self.sizes[layer] * self.sizes[layer + 1]] = True
        return mask

    def weights(self, flat):
        """Per-layer weight views into ``flat``; view ``l`` has shape ``(sizes[l], sizes[l+1])``."""
        views = []
        for layer in range(self.n_layers):
            start = self.weight_offsets[layer]
            shape = (self.sizes[layer], self.sizes[layer + 1])
            views.append(flat[start : start + shape[0] * shape[1]].reshape(shape))
        return views

    def biases(self, flat):
        """Per-layer bias views into ``flat``; view ``l`` has shape ``(sizes[l+1],)``."""
        return [flat[start : start + self.sizes[layer + 1]] for layer, start in enumerate(self.bias_offsets)]

    def activation_offsets(self, batch_size):
        """Offsets of each layer's ``(batch_size, sizes[l+1])`` block in a work buffer, and its length."""
        widths = np.asarray(self.sizes[1:], dtype=np.int64)
        ends = np.cumsum(widths * batch_size)
        offsets = np.concatenate(([0], ends[:-1])).astype(np.int64)
        return offsets, int(ends[-1])
