"""AITMTower: attention of a task tower over the transferred towers it depends on."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.aitm import AITMTower
from easy_rec.layers.core import MLP
from easy_rec.layers.registry import get_layer_class
from layers.layer_helpers import randomize


def softmax(x: np.ndarray) -> np.ndarray:
    e = np.exp(x - x.max(axis=-1, keepdims=True))
    return e / e.sum(axis=-1, keepdims=True)


def test_output_is_this_tasks_row_of_a_scaled_self_attention():
    tower = AITMTower([2, 3], project_dim=2)
    randomize(tower, seed=3)
    t0 = np.array([[1.0, -1.0]], np.float32)
    t1 = np.array([[0.5, 2.0, -1.0]], np.float32)
    out = tower([tf.constant(t0), tf.constant(t1)]).numpy()

    def project(layers, i, x):
        return x @ layers[i].kernel.numpy() + layers[i].bias.numpy()

    q0 = project(tower.queries, 0, t0)
    keys = np.stack([project(tower.keys, 0, t0), project(tower.keys, 1, t1)], axis=1)
    values = np.stack([project(tower.values, 0, t0), project(tower.values, 1, t1)], axis=1)
    weights = softmax(np.einsum("bd,bjd->bj", q0, keys) / np.sqrt(2.0))
    np.testing.assert_allclose(out, np.einsum("bj,bjd->bd", weights, values), rtol=1e-5)
    assert tower.output_dim == 2


def test_transfer_and_stop_gradient():
    tower = AITMTower([4, 4], transfer=MLP(4, [3], use_bn=False))
    assert tower.queries[1].kernel.shape == (3, 4) and tower.output_dim == 4
    t0, t1 = tf.ones([2, 4]), tf.ones([2, 4])
    with tf.GradientTape(persistent=True) as tape:
        tape.watch([t0, t1])
        out = tower([t0, t1])
    assert out.shape == (2, 4)
    assert tape.gradient(out, t1) is None and tape.gradient(out, t0) is not None
    free = AITMTower([4, 4], stop_gradient=False)
    with tf.GradientTape() as tape:
        tape.watch(t1)
        out = free([t0, t1])
    assert tape.gradient(out, t1) is not None


def test_single_input_passes_through():
    assert get_layer_class("AITMTower") is AITMTower
    tower = AITMTower([5])
    x = tf.ones([2, 5])
    assert tower(x) is x and tower.output_dim == 5 and not tower.trainable_variables


def test_from_params_with_a_transfer_mlp():
    from easy_rec.layers.component import Params, struct_params
    from easy_rec.protos import dnn_pb2, layer_pb2

    shapes = [tf.TensorShape([None, 6]), tf.TensorShape([None, 4])]
    params = struct_params({"project_dim": 3, "transfer_mlp": {"hidden_units": [5]}})
    tower = AITMTower.from_params(params, shapes, "aitm")
    assert tower.transfer.output_dim == 5 and tower.queries[1].kernel.shape == (5, 3)
    assert tower([tf.ones([2, 6]), tf.ones([2, 4])], training=True).shape == (2, 3)
    typed = layer_pb2.AITMTower(transfer_mlp=dnn_pb2.MLP(hidden_units=[4]))
    tower = AITMTower.from_params(Params(typed), shapes, "aitm")
    assert tower.output_dim == 6 and tower._stop_gradient
    uneven = [tf.TensorShape([None, 6]), tf.TensorShape([None, 4]), tf.TensorShape([None, 5])]
    with pytest.raises(ValueError, match="widths differ"):
        AITMTower.from_params(params, uneven, "aitm")
