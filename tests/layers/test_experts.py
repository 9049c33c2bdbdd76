"""Gate, expert groups, MMoE and PLE extraction layers with hand-computed values."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.component import Params
from easy_rec.layers.experts import ExpertGroup, ExtractionLayer, Gate, MMoELayer
from easy_rec.protos import layer_pb2


def test_gate_mixes_experts_with_softmax_weights():
    gate = Gate(4, 3)
    selector = tf.random.normal([5, 4])
    experts = [tf.fill([5, 2], float(i)) for i in range(3)]
    weights = gate.weights(selector).numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(gate(selector, experts)[:, 0], weights @ np.arange(3.0), rtol=1e-5)


LINEAR = {"hidden_units": [1], "activation": "linear", "use_bn": False}


def constant_experts(group: ExpertGroup, values: list[float]) -> None:
    """Expert i outputs values[i] (zero kernel, bias values[i])."""
    for expert, value in zip(group.experts, values):
        expert.dense_layers[0].kernel.assign(tf.zeros_like(expert.dense_layers[0].kernel))
        expert.dense_layers[0].bias.assign([value])


def zero_gates(*gates: Gate) -> None:
    """Uniform mixing: softmax of zero logits."""
    for gate in gates:
        gate.dense.kernel.assign(tf.zeros_like(gate.dense.kernel))


def test_mmoe_with_uniform_gates_averages_the_experts():
    mmoe = MMoELayer(3, LINEAR, num_expert=2, num_task=2)
    constant_experts(mmoe.experts, [1.0, 3.0])
    zero_gates(*mmoe.gates)
    first, second = mmoe(tf.ones([2, 3]), training=False)
    assert first.numpy().tolist() == [[2.0], [2.0]] and second.numpy().tolist() == [[2.0], [2.0]]
    mmoe.gates[1].dense.bias.assign([0.0, np.log(3.0)])  # weights 1/4, 3/4 -> 1/4 + 9/4
    np.testing.assert_allclose(mmoe(tf.ones([1, 3]), training=False)[1].numpy(), [[2.5]],
                               rtol=1e-6)


def test_extraction_layer_mixes_own_and_shared_experts():
    layer = ExtractionLayer(2, num_task=2, expert_num_per_task=1, share_num=1,
                            task_expert_mlp=LINEAR, share_expert_mlp=LINEAR, last=False)
    constant_experts(layer.task_experts[0], [2.0])
    constant_experts(layer.task_experts[1], [4.0])
    constant_experts(layer.shared_experts, [6.0])
    zero_gates(*layer.task_gates, layer.shared_gate)
    x = tf.ones([1, 2])
    tasks, shared = layer([x, x], x, training=False)
    # task t: mean(own, shared); shared gate: mean of every expert (2, 4, 6)
    assert [t.numpy().tolist() for t in tasks] == [[[4.0]], [[5.0]]]
    assert shared.numpy().tolist() == [[4.0]]
    last = ExtractionLayer(2, 2, 1, 0, LINEAR, {}, last=True)
    assert last.shared_experts is None and last.shared_gate is None


def test_mmoe_component_gives_one_mix_per_task():
    config = layer_pb2.MMoELayer(num_task=3, num_expert=2)
    config.expert_mlp.hidden_units.extend([4])
    mmoe = MMoELayer.from_params(Params(config, "mmoe"), tf.TensorShape([None, 5]), "mmoe")
    outputs = mmoe(tf.ones([2, 5]), training=False)
    assert len(outputs) == 3 and outputs[0].shape == (2, 4)
