"""Highway: gated mix of a transform and the input, checked by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.highway import Highway
from easy_rec.layers.registry import get_layer_class


def test_one_layer_mixes_transform_and_input_with_the_gate():
    layer = Highway(2)
    assert layer.projection is None and layer.output_dim == 2
    np.testing.assert_allclose(layer.gates[0].bias.numpy(), [-3.0, -3.0])
    layer.gates[0].kernel.assign(tf.zeros([2, 2]))
    layer.gates[0].bias.assign([0.0, 100.0])  # gates sigmoid(0) = 0.5 and ~1
    layer.transforms[0].kernel.assign([[1.0, 0.0], [0.0, -1.0]])
    layer.transforms[0].bias.assign([0.0, 0.0])
    # x = [2, 3]: h = relu([2, -3]) = [2, 0]; out = [0.5 * 2 + 0.5 * 2, 1 * 0 + 0 * 3]
    out = layer(tf.constant([[2.0, 3.0]])).numpy()
    np.testing.assert_allclose(out, [[2.0, 0.0]], atol=1e-6)


def test_projection_to_emb_size_and_stacked_layers():
    layer = Highway(3, emb_size=2, num_layers=2, activation="linear", init_gate_bias=0.0)
    assert layer.projection is not None and layer.output_dim == 2
    layer.projection.kernel.assign([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0]])
    layer.projection.bias.assign([0.0, 0.0])
    for gate, transform in zip(layer.gates, layer.transforms):
        gate.kernel.assign(tf.zeros([2, 2]))        # every gate 0.5
        transform.kernel.assign(2.0 * tf.eye(2))    # h = 2 x
        transform.bias.assign([0.0, 0.0])
    # projected [1, 2]; each layer: 0.5 * 2x + 0.5 * x = 1.5 x -> [2.25, 4.5]
    out = layer(tf.constant([[1.0, 1.0, 1.0]]) * [[1.0, 2.0, 0.0]]).numpy()
    np.testing.assert_allclose(out, [[2.25, 4.5]], rtol=1e-6)


def test_from_params_and_registry():
    assert get_layer_class("Highway") is Highway
    layer = Highway.from_params(struct_params({"emb_size": 4, "num_layers": 2}),
                                tf.TensorShape([None, 6]), "hw")
    assert layer.output_dim == 4 and len(layer.gates) == 2
    assert layer(tf.ones([3, 6]), training=True).shape == (3, 4)
    with pytest.raises(ValueError, match="num_layers"):
        Highway(2, num_layers=0)


def test_typed_params_message():
    from easy_rec.layers.component import Params
    from easy_rec.protos import layer_pb2

    layer = Highway.from_params(Params(layer_pb2.HighWayTower(emb_size=3, dropout_rate=0.1)),
                                tf.TensorShape([None, 5]), "hw")
    assert layer.output_dim == 3 and len(layer.gates) == 1
    np.testing.assert_allclose(layer.gates[0].bias.numpy(), [-3.0] * 3)
