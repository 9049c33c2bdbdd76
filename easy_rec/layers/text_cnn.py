"""TextCNN: n-gram convolutions over a sequence of embeddings, max-pooled over time.

Reference: Kim, "Convolutional Neural Networks for Sentence Classification", EMNLP 2014,
https://arxiv.org/abs/1408.5882.

For each filter size k with n_k filters, a 1-D convolution over every window of k consecutive
elements x_t .. x_{t+k-1} (stride 1, no padding inside the sequence), then a max over the
windows:

    c_t = act(b + sum_{j<k} x_{t+j} W_j),   W_j in R^{dim x n_k}
    p   = max_t c_t                                         (n_k values)

The pooled vectors of all sizes are concatenated and, optionally, passed through an MLP. As
in EasyRec, padding elements (zero vectors) take part in the windows; with
`pad_sequence_length` > 0 every sequence is first cut or zero-padded to that many elements
(the first ones are kept), so an example's output does not depend on the rest of its batch.
Sequences shorter than the widest filter are zero-padded to its width.

Shapes: [batch, L, dim] -> [batch, sum(num_filters)] (the MLP's width with an MLP).
"""
from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP, get_activation
from easy_rec.layers.registry import register_layer


@register_layer("TextCNN")
class TextCNN(Layer):
    """Kim's TextCNN over embedded tokens: per filter size a valid 1-D convolution with
    `activation`, max-pooled over time; the pooled features concatenated, then `mlp`.

    filter_sizes[i] is the window width of the num_filters[i] filters of size i. The kernels
    are Glorot-uniform, the biases zero; like EasyRec's Conv1D layers they carry no L2
    (no declared kernels). `mlp`, when given, is a layer taking [batch, sum(num_filters)].
    """

    def __init__(self, input_dim: int, filter_sizes: Sequence[int], num_filters: Sequence[int],
                 pad_sequence_length: int = 0, activation: str = "relu",
                 mlp: Layer | None = None, name: str | None = None):
        super().__init__(name=name)
        sizes, counts = [int(s) for s in filter_sizes], [int(n) for n in num_filters]
        if not sizes or len(sizes) != len(counts):
            raise ValueError(f"TextCNN needs as many filter_sizes as num_filters (at least one); "
                             f"got {len(sizes)} and {len(counts)}")
        if min(sizes + counts) < 1:
            raise ValueError(f"TextCNN filter_sizes and num_filters must be >= 1, got {sizes} "
                             f"and {counts}")
        self.filter_sizes = sizes
        self.pad_sequence_length = int(pad_sequence_length)
        self._activation = get_activation(activation)
        self.kernels: list[tf.Variable] = []
        self.biases: list[tf.Variable] = []
        with self.name_scope:
            for size, count in zip(sizes, counts):
                limit = (6.0 / (size * input_dim + size * count)) ** 0.5
                self.kernels.append(tf.Variable(
                    tf.random.uniform([size, input_dim, count], -limit, limit),
                    name=f"kernel_{size}"))
                self.biases.append(tf.Variable(tf.zeros([count]), name=f"bias_{size}"))
        self.mlp = mlp
        self.output_dim = getattr(mlp, "output_dim", None) or sum(counts)

    @classmethod
    def from_params(cls, params: Any, input_shape: Any, name: str) -> TextCNN:
        """Backbone constructor from EasyRec's TextCNN parameters (filter_sizes, num_filters,
        pad_sequence_length, activation, mlp); the input is the sequence embedding, or the
        (embedding, length) pair EasyRec passes."""
        shape = input_shape[0] if isinstance(input_shape, (list, tuple)) else input_shape
        sizes, counts = params.get("filter_sizes", []), params.get("num_filters", [])
        mlp = None
        if params.has("mlp"):
            width = sum(int(n) for n in counts)
            mlp = MLP.from_params(params.child("mlp"), tf.TensorShape([None, width]),
                                  name=f"{name}_mlp")
        return cls(int(shape[-1]), sizes, counts,
                   pad_sequence_length=params.get("pad_sequence_length", 0, int),
                   activation=params.get("activation", "relu", str), mlp=mlp, name=name)

    def call_block(self, inputs: Any, training: bool = False, context: Any = None) -> tf.Tensor:
        """Backbone call: the sequence embedding, or EasyRec's (embedding, length) pair."""
        del context
        sequence = inputs[0] if isinstance(inputs, (list, tuple)) else inputs
        return self(sequence, training=training)

    def __call__(self, sequence: tf.Tensor, training: bool = False) -> tf.Tensor:
        """[batch, L, input_dim] -> [batch, output_dim]."""
        sequence = self._fixed_length(sequence)
        pooled = []
        for kernel, bias in zip(self.kernels, self.biases):
            windows = tf.nn.conv1d(sequence, kernel, stride=1, padding="VALID") + bias
            pooled.append(tf.reduce_max(self._activation(windows), axis=1))
        net = tf.concat(pooled, axis=-1)
        return self.mlp(net, training) if self.mlp is not None else net

    def _fixed_length(self, sequence: tf.Tensor) -> tf.Tensor:
        """The first pad_sequence_length elements (zero-padded), and at least as many as the
        widest filter."""
        if self.pad_sequence_length > 0:
            sequence = sequence[:, :self.pad_sequence_length]
        minimum = max(self.pad_sequence_length, max(self.filter_sizes))
        missing = tf.maximum(minimum - tf.shape(sequence)[1], 0)
        return tf.pad(sequence, [[0, 0], [0, missing], [0, 0]])
