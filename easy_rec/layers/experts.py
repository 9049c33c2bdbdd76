"""Mixture-of-experts blocks of multi-task models: expert groups, softmax gates, the MMoE
layer and the PLE extraction layer.

MMoE (Ma et al., "Modeling Task Relationships in Multi-task Learning with Multi-gate
Mixture-of-Experts", KDD 2018, https://dl.acm.org/doi/10.1145/3219819.3220007) shares n expert
MLPs f_i between tasks and gives each task t its own softmax gate over them:

    y_t = sum_i g_t(x)_i f_i(x),   g_t(x) = softmax(x W_t + b_t)

PLE's extraction layer (Tang et al., "Progressive Layered Extraction (PLE)", RecSys 2020,
https://dl.acm.org/doi/10.1145/3383313.3412236) gives each task its own experts besides the
shared ones: task t's gate mixes its own and the shared experts; a shared gate mixes every
expert of the layer into the next layer's shared input.

Shapes: the input is [batch, input_dim]; every expert output, and so every gated mix, is
[batch, output_dim] (the experts' last hidden_units entry).
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.core import MLP, Dense, mlp_params
from easy_rec.layers.registry import register_layer


@register_layer("ExpertGroup")
class ExpertGroup(Layer):
    """`num` MLPs of the same shape (expert_mlp: MLP keyword arguments) on the same input."""

    def __init__(self, input_dim: int, num: int, expert_mlp: Mapping[str, Any],
                 name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.experts = [MLP(input_dim, **expert_mlp, name=f"expert_{i}") for i in range(num)]
        self.output_dim = self.experts[0].output_dim

    def __call__(self, x: tf.Tensor, training: bool) -> list[tf.Tensor]:
        """One [batch, output_dim] tensor per expert."""
        return [expert(x, training) for expert in self.experts]


@register_layer("ExpertGate")
class Gate(Layer):
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


@register_layer("MMoE")
class MMoELayer(Layer):
    """Shared experts, one gate per task: task t gets gate_t(x, experts(x))."""

    def __init__(self, input_dim: int, expert_mlp: Mapping[str, Any], num_expert: int,
                 num_task: int, name: str | None = "mmoe"):
        super().__init__(name=name)
        with self.name_scope:
            self.experts = ExpertGroup(input_dim, num_expert, expert_mlp, name="experts")
            self.gates = [Gate(input_dim, num_expert, name=f"gate_{t}") for t in range(num_task)]
        self.output_dim = self.experts.output_dim

    def __call__(self, x: tf.Tensor, training: bool) -> list[tf.Tensor]:
        """One [batch, output_dim] input per task."""
        experts = self.experts(x, training)
        return [gate(x, experts) for gate in self.gates]

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> MMoELayer:
        """EasyRec's MMoE component: num_task, num_expert, expert_mlp (MLP parameters); one
        [batch, dim] input, one output per task."""
        params.require("num_task", "num_expert", "expert_mlp")
        if not isinstance(input_shape, tf.TensorShape) or input_shape.rank != 2:
            raise ValueError(f"MMoE takes one [batch, dim] tensor, got {input_shape}")
        return cls(int(input_shape[-1]), mlp_params(params.child("expert_mlp")),
                   params.get("num_expert", 0, int), params.get("num_task", 0, int), name=name)


@register_layer("ExtractionLayer")
class ExtractionLayer(Layer):
    """One PLE extraction layer (customized gate control).

    Task t mixes its own expert_num_per_task experts and the share_num shared experts with a
    gate on its own input; unless the layer is the last one, a shared gate on the shared input
    mixes every expert of the layer into the next layer's shared input. task_expert_mlp /
    share_expert_mlp: MLP keyword arguments of the experts.
    """

    def __init__(self, input_dim: int, num_task: int, expert_num_per_task: int, share_num: int,
                 task_expert_mlp: Mapping[str, Any], share_expert_mlp: Mapping[str, Any],
                 last: bool, name: str | None = None):
        super().__init__(name=name)
        per_task = expert_num_per_task
        with self.name_scope:
            self.task_experts = [
                ExpertGroup(input_dim, per_task, task_expert_mlp, name=f"task_{t}_experts")
                for t in range(num_task)]
            self.shared_experts = (ExpertGroup(input_dim, share_num, share_expert_mlp,
                                               name="shared_experts") if share_num else None)
            self.task_gates = [Gate(input_dim, per_task + share_num, name=f"task_{t}_gate")
                               for t in range(num_task)]
            self.shared_gate = None if last else Gate(
                input_dim, num_task * per_task + share_num, name="shared_gate")
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
