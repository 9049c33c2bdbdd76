"""MMoE: shared experts with one softmax gate per task, then a tower per task."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.experts import MMoELayer
from easy_rec.models.backbone.network import optional_backbone
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multi_task import MultiTaskModel, TowerHead, config_error
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, multi_task_pb2


@register_model("MMoE", multi_task_pb2.MMoE)
class MMoE(MultiTaskModel):
    """Group 'all' (or model_config.backbone's output) -> num_expert expert_dnn MLPs -> per
    task: gate mix -> task tower -> logits."""

    reads_backbone = True

    def build(self, feature_layer: FeatureLayer) -> None:
        tasks = self.tasks
        self.backbone = optional_backbone(self.model_config, feature_layer)
        width = self.backbone.output_dim if self.backbone else feature_layer.group_dim("all")
        self.mmoe = MMoELayer(width, mlp_kwargs(self.params.expert_dnn),
                              int(self.params.num_expert), len(tasks))
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
        if params.num_expert < 1:
            raise config_error(locate, "model_config.mmoe.num_expert",
                               f"MMoE needs num_expert >= 1, got {params.num_expert}")
        if not params.expert_dnn.hidden_units:
            raise config_error(locate, "model_config.mmoe.expert_dnn",
                               "MMoE needs expert_dnn { hidden_units: [...] }")
