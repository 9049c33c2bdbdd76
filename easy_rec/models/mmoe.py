"""MMoE: shared experts with one softmax gate per task, then a tower per task."""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.base import scope_name
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.experts import MMoELayer
from easy_rec.models.backbone.network import optional_backbone
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multi_task import MultiTaskModel, TowerHead, config_error
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, mmoe_pb2, multi_task_pb2


class ExpertTowers(tf.Module):
    """MMoE over EasyRec's older `experts` form: one MLP per ExpertTower (their layers may
    differ; their last widths must agree) and one softmax gate per task,
    y_t = sum_i softmax(x W_t + b_t)_i f_i(x)."""

    def __init__(self, input_dim: int, experts: Sequence[mmoe_pb2.ExpertTower], num_task: int,
                 name: str | None = "mmoe"):
        super().__init__(name=name)
        with self.name_scope:
            self.experts = [MLP(input_dim, **mlp_kwargs(e.dnn),
                                name=scope_name(e.expert_name or f"expert_{i}"))
                            for i, e in enumerate(experts)]
            self.gates = [Dense(input_dim, len(experts), name=f"gate_{t}")
                          for t in range(num_task)]
        self.output_dim = self.experts[0].output_dim

    def __call__(self, x: tf.Tensor, training: bool) -> list[tf.Tensor]:
        """One [batch, output_dim] input per task."""
        stacked = tf.stack([expert(x, training) for expert in self.experts], axis=1)
        return [tf.reduce_sum(stacked * tf.nn.softmax(gate(x))[:, :, None], axis=1)
                for gate in self.gates]


@register_model("MMoE", multi_task_pb2.MMoE)
class MMoE(MultiTaskModel):
    """Group 'all' (or model_config.backbone's output) -> num_expert expert_dnn MLPs (or the
    MLPs of `experts`) -> per task: gate mix -> task tower -> logits. With both expert forms
    set, expert_dnn is used, as in EasyRec."""

    reads_backbone = True

    def build(self, feature_layer: FeatureLayer) -> None:
        tasks = self.tasks
        self.backbone = optional_backbone(self.model_config, feature_layer)
        dim = self.backbone.output_dim if self.backbone else feature_layer.group_dim("all")
        if self.params.HasField("expert_dnn"):
            self.mmoe = MMoELayer(dim, mlp_kwargs(self.params.expert_dnn),
                                  int(self.params.num_expert), len(tasks))
        else:
            self.mmoe = ExpertTowers(dim, self.params.experts, len(tasks))
        self.heads = [TowerHead(self.mmoe.output_dim, tower.dnn, task.output_dim,
                                name=f"tower_{task.name}")
                      for tower, task in zip(self.params.task_towers, tasks)]

    def task_logits(self, features: FeatureLayerOutput, training: bool) -> list[tf.Tensor]:
        bottom = (self.backbone(features, training)[0] if self.backbone is not None
                  else features.concat("all"))
        task_inputs = self.mmoe(bottom, training)
        return [head(x, training) for head, x in zip(self.heads, task_inputs)]

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        super().validate_config(model_config, locate)
        params = model_config.mmoe
        if not params.HasField("expert_dnn") and params.experts:
            widths = {}
            for i, expert in enumerate(params.experts):
                where = f"model_config.mmoe.experts[{i}].dnn"
                if not expert.dnn.hidden_units:
                    raise config_error(locate, where, "each expert needs dnn { hidden_units: "
                                       "[...] }")
                widths.setdefault(expert.dnn.hidden_units[-1], where)
            if len(widths) > 1:
                raise config_error(locate, list(widths.values())[-1], "the gates mix the "
                                   "experts' outputs, so their last hidden_units must agree; "
                                   f"got {', '.join(str(w) for w in widths)}")
            return
        if params.num_expert < 1:
            raise config_error(locate, "model_config.mmoe.num_expert",
                               f"MMoE needs num_expert >= 1 (or the older experts {{...}} "
                               f"blocks), got {params.num_expert}")
        if not params.expert_dnn.hidden_units:
            raise config_error(locate, "model_config.mmoe.expert_dnn",
                               "MMoE needs expert_dnn { hidden_units: [...] }")
