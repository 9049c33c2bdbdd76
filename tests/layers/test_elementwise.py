"""Keras-name weightless components and EasyRec's Gate, with hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import ParamError, struct_params
from easy_rec.layers.elementwise import Activation, Add, Concatenate, Dropout, Gate, Multiply

SHAPE = tf.TensorShape([None, 2])


def test_add_multiply_concatenate():
    a, b = tf.constant([[1.0, 2.0]]), tf.constant([[3.0, -1.0]])
    assert Add.from_params(struct_params({}), [SHAPE, SHAPE], "add")([a, b]).numpy().tolist() \
        == [[4.0, 1.0]]
    assert Multiply()([a, b, b]).numpy().tolist() == [[9.0, 2.0]]
    cat = Concatenate.from_params(struct_params({"axis": 0}), [SHAPE, SHAPE], "cat")
    assert cat([a, b]).shape == (2, 2)
    with pytest.raises(ValueError, match="at least two tensors"):
        Add()(a)


def test_gate_weighs_the_other_inputs_by_the_weights_input():
    weights = tf.constant([[0.25, 0.75]])
    x1, x2 = tf.constant([[4.0, 8.0]]), tf.constant([[0.0, 4.0]])
    gate = Gate.from_params(struct_params({"weight_index": 2}), [SHAPE] * 3, "gate")
    # 0.25 * x1 + 0.75 * x2 = [1, 2] + [0, 3]
    assert gate([x1, x2, weights]).numpy().tolist() == [[1.0, 5.0]]
    with pytest.raises(ParamError, match="outside the 3 inputs"):
        Gate.from_params(struct_params({"weight_index": 3}), [SHAPE] * 3, "gate")


def test_dropout_only_in_training_and_activation_by_name():
    drop = Dropout.from_params(struct_params({"rate": 0.5}), SHAPE, "drop")
    x = tf.ones([200, 50])
    assert np.array_equal(drop(x, training=False).numpy(), x.numpy())
    dropped = drop(x, training=True).numpy()
    assert set(np.unique(dropped)) == {0.0, 2.0} and 0.3 < (dropped == 0).mean() < 0.7
    act = Activation.from_params(struct_params({"activation": "tf.nn.relu"}), SHAPE, "act")
    assert act(tf.constant([-1.0, 2.0])).numpy().tolist() == [0.0, 2.0]


def test_unknown_or_missing_parameters_are_refused():
    with pytest.raises(ParamError, match=r"st_params.noise_shape: unknown parameter"):
        Dropout.from_params(struct_params({"rate": 0.1, "noise_shape": 1}, "st_params"),
                            SHAPE, "d")
    with pytest.raises(ParamError, match="parameter 'rate' is required"):
        Dropout.from_params(struct_params({}), SHAPE, "d")
