"""TextCNN against hand-computed convolutions and a numpy reference."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.registry import get_layer_class
from easy_rec.layers.text_cnn import TextCNN
from layers.layer_helpers import normal, randomize, relu, tree_kernels


def text_cnn_reference(layer: TextCNN, x: np.ndarray) -> np.ndarray:
    """Numpy TextCNN: per filter size k, relu(b + sum_j x[t + j] W[j]) max-pooled over t."""
    pooled = []
    for kernel, bias in zip(layer.kernels, layer.biases):
        w, b = kernel.numpy(), bias.numpy()
        k = w.shape[0]
        windows = [sum(x[:, t + j] @ w[j] for j in range(k)) + b
                   for t in range(x.shape[1] - k + 1)]
        pooled.append(relu(np.stack(windows, axis=1)).max(axis=1))
    return np.concatenate(pooled, axis=1)


def test_hand_computed_bigram_filter():
    # one filter of width 2 over 1-d elements [1, 2, 3, 0] with weights 1 (first element of
    # the window) and 10 (second): windows 1 + 20, 2 + 30, 3 + 0, plus the bias 0.5 -> max 32.5
    layer = TextCNN(1, [2], [1], activation="linear")
    layer.kernels[0].assign([[[1.0]], [[10.0]]])
    layer.biases[0].assign([0.5])
    out = layer(tf.constant([[[1.0], [2.0], [3.0], [0.0]]]))
    np.testing.assert_allclose(out.numpy(), [[32.5]])


def test_matches_numpy_reference_and_shapes():
    layer = TextCNN(5, [2, 3, 4], [3, 2, 4])
    randomize(layer)
    x = normal(2, 7, 5)
    out = layer(tf.constant(x)).numpy()
    assert layer.output_dim == 9 and out.shape == (2, 9)
    np.testing.assert_allclose(out, text_cnn_reference(layer, x), rtol=1e-5, atol=1e-5)
    assert tree_kernels(layer) == []  # like EasyRec's Conv1D layers: no L2 on the filters


def test_pad_sequence_length_cuts_and_pads_to_a_fixed_length():
    layer = TextCNN(3, [2], [4], pad_sequence_length=4)
    randomize(layer)
    x = normal(1, 6, 3)
    cut = layer(tf.constant(x)).numpy()  # only the first 4 elements count
    np.testing.assert_allclose(cut, text_cnn_reference(layer, x[:, :4]), rtol=1e-5, atol=1e-5)
    short = layer(tf.constant(x[:, :2])).numpy()  # zero-padded to 4 elements
    padded = np.concatenate([x[:, :2], np.zeros((1, 2, 3), np.float32)], axis=1)
    np.testing.assert_allclose(short, text_cnn_reference(layer, padded), rtol=1e-5, atol=1e-5)


def test_sequences_shorter_than_the_widest_filter_are_padded():
    layer = TextCNN(2, [3], [2])
    randomize(layer)
    x = normal(2, 1, 2)
    padded = np.concatenate([x, np.zeros((2, 2, 2), np.float32)], axis=1)
    np.testing.assert_allclose(layer(tf.constant(x)).numpy(), text_cnn_reference(layer, padded),
                               rtol=1e-5, atol=1e-5)


def test_registered_under_easyrec_name_and_rejects_bad_filters():
    assert get_layer_class("TextCNN") is TextCNN
    with pytest.raises(ValueError, match="as many filter_sizes as num_filters"):
        TextCNN(4, [2, 3], [8])
    with pytest.raises(ValueError, match=">= 1"):
        TextCNN(4, [0], [8])


class _Params:
    """The part of the backbone's Params view (docs: REGISTRY_API) from_params reads."""

    def __init__(self, values: dict):
        self.values = values

    def get(self, key, default=None, kind=None):
        value = self.values.get(key, default)
        return kind(value) if kind is not None and key in self.values else value

    def has(self, key):
        return key in self.values


def test_from_params_takes_easyrec_parameters_and_the_sequence_of_a_pair():
    params = _Params({"filter_sizes": [2, 3], "num_filters": [4, 5], "pad_sequence_length": 6.0,
                      "activation": "tanh"})
    layer = TextCNN.from_params(params, [tf.TensorShape([None, None, 3]), tf.TensorShape([None])],
                                name="cnn")
    assert layer.output_dim == 9 and layer.pad_sequence_length == 6
    assert [tuple(k.shape) for k in layer.kernels] == [(2, 3, 4), (3, 3, 5)]
    x = normal(2, 4, 3)
    out = layer.call_block([tf.constant(x), tf.constant([4, 2])], training=False)
    assert out.shape == (2, 9) and np.abs(out.numpy()).max() <= 1.0  # tanh
