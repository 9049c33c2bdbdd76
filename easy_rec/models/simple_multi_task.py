"""SimpleMultiTask: one independent tower per task over the shared feature group 'all'."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.models.multi_task import MultiTaskModel, TowerHead
from easy_rec.models.registry import register_model
from easy_rec.protos import simple_multi_task_pb2


@register_model("SimpleMultiTask", simple_multi_task_pb2.SimpleMultiTask)
class SimpleMultiTask(MultiTaskModel):
    """Group 'all' -> per task: its dnn -> logits. The tasks share only the embeddings (the
    shared-bottom baseline of multi-task learning without a shared MLP)."""

    def build(self, feature_layer: FeatureLayer) -> None:
        dim = feature_layer.group_dim("all")
        self.heads = [TowerHead(dim, tower.dnn, task.output_dim, name=f"tower_{task.name}")
                      for tower, task in zip(self.params.task_towers, self.tasks)]

    def task_logits(self, features: FeatureLayerOutput, training: bool) -> list[tf.Tensor]:
        shared = features.concat("all")
        return [head(shared, training) for head in self.heads]
