"""Mixture-of-experts blocks of the multi-task models: expert groups, softmax gates, the MMoE
layer (MMoE, DBMTL) and the PLE extraction layer."""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.core import MLP, Dense
from easy_rec.protos import dnn_pb2, multi_task_pb2


class ExpertGroup(tf.Module):
    """`num` MLPs of the same shape applied to the same input."""

    def __init__(self, input_dim: int, num: int, dnn_config: dnn_pb2.DNN, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.experts = [MLP.from_config(input_dim, dnn_config, name=f"expert_{i}")
                            for i in range(num)]
        self.output_dim = self.experts[0].output_dim

    def __call__(self, x: tf.Tensor, training: bool) -> list[tf.Tensor]:
        """One [batch, output_dim] tensor per expert."""
        return [expert(x, training) for expert in self.experts]

    def kernels(self) -> list[tf.Variable]:
        """Weight matrices of every expert, for L2 regularisation."""
        return [k for expert in self.experts for k in expert.kernels()]


class Gate(tf.Module):
    """Softmax weights over `num_inputs` experts from a selector input; returns their mix.

    gate(s, [e_1 .. e_n]) = sum_i softmax(s @ W + b)_i * e_i
    """

    def __init__(self, selector_dim: int, num_inputs: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.dense = Dense(selector_dim, num_inputs, name="dense")

    def weights(self, selector: tf.Tensor) -> tf.Tensor:
        """[batch, num_inputs] mixing weights (rows sum to 1)."""
        return tf.nn.softmax(self.dense(selector), axis=-1)

    def __call__(self, selector: tf.Tensor, experts: Sequence[tf.Tensor]) -> tf.Tensor:
        stacked = tf.stack(list(experts), axis=1)  # [batch, num_inputs, dim]
        return tf.reduce_sum(stacked * tf.expand_dims(self.weights(selector), -1), axis=1)

    def kernels(self) -> list[tf.Variable]:
        """The gate's weight matrix, for L2 regularisation."""
        return [self.dense.kernel]


class MMoELayer(tf.Module):
    """Shared experts, one gate per task (Ma et al. 2018): task t gets gate_t(x, experts(x))."""

    def __init__(self, input_dim: int, expert_dnn: dnn_pb2.DNN, num_expert: int, num_task: int,
                 name: str | None = "mmoe"):
        super().__init__(name=name)
        with self.name_scope:
            self.experts = ExpertGroup(input_dim, num_expert, expert_dnn, name="experts")
            self.gates = [Gate(input_dim, num_expert, name=f"gate_{t}") for t in range(num_task)]
        self.output_dim = self.experts.output_dim

    def __call__(self, x: tf.Tensor, training: bool) -> list[tf.Tensor]:
        """One [batch, output_dim] input per task."""
        experts = self.experts(x, training)
        return [gate(x, experts) for gate in self.gates]

    def kernels(self) -> list[tf.Variable]:
        """Expert and gate weight matrices."""
        return self.experts.kernels() + [k for gate in self.gates for k in gate.kernels()]


class ExtractionLayer(tf.Module):
    """One PLE extraction layer (customized gate control, Tang et al. 2020).

    Task t mixes its own experts and the shared experts with a gate on its own input; unless
    the layer is the last one, a shared gate on the shared input mixes every expert of the
    layer into the next layer's shared input.
    """

    def __init__(self, input_dim: int, num_task: int,
                 config: multi_task_pb2.ExtractionNetwork, last: bool, name: str | None = None):
        super().__init__(name=name)
        per_task, num_shared = int(config.expert_num_per_task), int(config.share_num)
        with self.name_scope:
            self.task_experts = [
                ExpertGroup(input_dim, per_task, config.task_expert_net, name=f"task_{t}_experts")
                for t in range(num_task)]
            self.shared_experts = (ExpertGroup(input_dim, num_shared, config.share_expert_net,
                                               name="shared_experts") if num_shared else None)
            self.task_gates = [Gate(input_dim, per_task + num_shared, name=f"task_{t}_gate")
                               for t in range(num_task)]
            self.shared_gate = None if last else Gate(
                input_dim, num_task * per_task + num_shared, name="shared_gate")
        self.output_dim = self.task_experts[0].output_dim

    def __call__(self, task_inputs: Sequence[tf.Tensor], shared_input: tf.Tensor,
                 training: bool) -> tuple[list[tf.Tensor], tf.Tensor | None]:
        """(next layer's task inputs, next layer's shared input or None after the last layer)."""
        shared = self.shared_experts(shared_input, training) if self.shared_experts else []
        task_outputs, all_experts = [], []
        for x, experts, gate in zip(task_inputs, self.task_experts, self.task_gates):
            own = experts(x, training)
            all_experts += own
            task_outputs.append(gate(x, own + shared))
        next_shared = None
        if self.shared_gate is not None:
            next_shared = self.shared_gate(shared_input, all_experts + shared)
        return task_outputs, next_shared

    def kernels(self) -> list[tf.Variable]:
        """Expert and gate weight matrices."""
        groups = [*self.task_experts, self.shared_experts, *self.task_gates, self.shared_gate]
        return [k for group in groups if group is not None for k in group.kernels()]
