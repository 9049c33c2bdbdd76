"""PPNet and its gate against numpy, eager and lazy."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.ppnet import GateNN, PPNet, layer_options
from easy_rec.layers.registry import get_layer_class
from layers.layer_helpers import dense, randomize, relu, sigmoid


def test_gate_is_twice_a_sigmoid_so_one_is_neutral():
    gate = GateNN(2, 1, hidden_dim=1)
    hidden = gate.hidden.dense_layers[0]
    hidden.kernel.assign([[1.0], [1.0]])
    hidden.bias.assign([0.0])
    gate.weight.kernel.assign([[1.0]])
    gate.weight.bias.assign([0.0])
    # [1, -3]: relu(-2) = 0 -> 2 sigmoid(0) = 1; [1, 1]: relu(2) = 2 -> 2 sigmoid(2)
    out = gate(tf.constant([[1.0, -3.0], [1.0, 1.0]])).numpy()
    np.testing.assert_allclose(out, [[1.0], [2.0 * sigmoid(2.0)]], rtol=1e-6)
    assert GateNN(2, 3, use_bn=True).weight.bias is None


def gate_ref(gate: GateNN, g: np.ndarray) -> np.ndarray:
    return 2.0 * sigmoid(dense(relu(dense(g, gate.hidden.dense_layers[0])), gate.weight))


@pytest.mark.parametrize("mode", ["eager", "lazy"])
def test_gates_scale_layer_inputs_or_outputs(mode):
    net = PPNet(3, 2, {"hidden_units": [4, 2], "use_bn": False}, mode=mode)
    randomize(net, seed=1, scale=0.5)
    x = np.array([[1.0, -0.5, 2.0], [0.3, 0.1, -1.0]], np.float32)
    p = np.array([[0.5, 1.0], [-1.0, 0.2]], np.float32)
    g = np.concatenate([x, p], axis=1)  # full_gate_input
    h = x
    for layer, gate in zip(net.layers, net.gates):
        if mode == "eager":
            h = relu(dense(h * gate_ref(gate, g), layer.dense_layers[0]))
        else:
            h = relu(dense(h, layer.dense_layers[0])) * gate_ref(gate, g)
    out = net([tf.constant(x), tf.constant(p)]).numpy()
    np.testing.assert_allclose(out, h, rtol=1e-5, atol=1e-6)
    widths = [3, 4] if mode == "eager" else [4, 2]
    assert [gate.output_dim for gate in net.gates] == widths and net.output_dim == 2


def test_gate_input_without_x_and_no_gradient_through_it():
    net = PPNet(3, 2, {"hidden_units": [2]}, full_gate_input=False, mode="lazy")
    assert net.gates[0].hidden.dense_layers[0].kernel.shape == (2, 2)
    full = PPNet(3, 2, {"hidden_units": [2], "use_bn": False}, mode="lazy")
    randomize(full, seed=2)
    x, p = tf.constant([[1.0, 2.0, -1.0]]), tf.constant([[0.5, -0.5]])
    with tf.GradientTape() as tape:
        tape.watch(x)
        out = full([x, p])
    # the same output with the gate input as a constant: x reaches the loss only via the MLP
    fixed_gate = full.gates[0](tf.constant(tf.concat([x, p], axis=-1).numpy()))
    with tf.GradientTape() as tape2:
        tape2.watch(x)
        detached = full.layers[0](x, False) * fixed_gate
    np.testing.assert_allclose(tape.gradient(out, x).numpy(), tape2.gradient(detached, x).numpy(),
                               rtol=1e-6)


def test_layer_options_give_the_last_layer_the_final_options():
    mlp = {"hidden_units": [4, 2], "activation": "tanh", "final_activation": "linear",
           "use_bn": True, "use_final_bn": False, "use_bias": False, "use_final_bias": True,
           "dropout_ratio": [0.5]}
    assert layer_options(mlp, 0) == {"activation": "tanh", "use_bn": True, "use_bias": False,
                                     "dropout_ratio": [0.5]}
    assert layer_options(mlp, 1) == {"activation": "linear", "use_bn": False, "use_bias": True,
                                     "dropout_ratio": []}


def test_from_params_and_registry():
    assert get_layer_class("PPNet") is PPNet
    shapes = [tf.TensorShape([None, 6]), tf.TensorShape([None, 4])]
    params = struct_params({"mlp": {"hidden_units": [8, 4], "use_final_bn": False},
                            "gate_params": {"hidden_dim": 5}})
    net = PPNet.from_params(params, shapes, "ppnet")
    assert not net._eager  # st_params: EasyRec's code default, lazy
    assert net.gates[0].hidden.dense_layers[0].kernel.shape == (10, 5)
    first, last = net.layers[0], net.layers[1]
    assert first.bn_layers[0] is not None and first.dense_layers[0].bias is None
    assert last.bn_layers[0] is None and last.dense_layers[0].bias is None  # use_final_bias false
    assert net([tf.ones([2, 6]), tf.ones([2, 4])], training=True).shape == (2, 4)
    wrong = struct_params({"mode": "eager", "mlp": {"hidden_units": [8]},
                           "gate_params": {"output_dim": 5}})
    with pytest.raises(ValueError, match="output_dim"):
        PPNet.from_params(wrong, shapes, "ppnet")
    with pytest.raises(ValueError, match="mlp"):
        PPNet.from_params(struct_params({}), shapes, "ppnet")


def test_typed_params_default_to_eager():
    from easy_rec.layers.component import Params
    from easy_rec.protos import dnn_pb2, layer_pb2

    message = layer_pb2.PPNet(mlp=dnn_pb2.MLP(hidden_units=[8, 4]))
    net = PPNet.from_params(Params(message), [tf.TensorShape([None, 6]),
                                              tf.TensorShape([None, 4])], "ppnet")
    assert net._eager and [g.output_dim for g in net.gates] == [6, 8]
