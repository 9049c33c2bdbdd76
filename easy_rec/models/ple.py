"""PLE: progressive layers of task-specific and shared experts with per-task gates."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.experts import ExtractionLayer
from easy_rec.models.layer_args import extraction_kwargs
from easy_rec.models.multi_task import MultiTaskModel, TowerHead, config_error
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, multi_task_pb2


@register_model("PLE", multi_task_pb2.PLE)
class PLE(MultiTaskModel):
    """Group 'all' -> extraction_networks (in order) -> per task: task tower -> logits.

    Every layer starts with the same input for each task and for the shared branch; the last
    layer's per-task outputs feed the task towers.
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        tasks = self.tasks
        networks = self.params.extraction_networks
        self.layers = []
        dim = feature_layer.group_dim("all")
        for i, network in enumerate(networks):
            layer = ExtractionLayer(dim, len(tasks), **extraction_kwargs(network),
                                    last=i == len(networks) - 1, name=f"extraction_{i}")
            self.layers.append(layer)
            dim = layer.output_dim
        self.heads = [TowerHead(dim, tower.dnn, task.output_dim, name=f"tower_{task.name}")
                      for tower, task in zip(self.params.task_towers, tasks)]

    def task_logits(self, features: FeatureLayerOutput, training: bool) -> list[tf.Tensor]:
        shared = features.concat("all")
        task_inputs = [shared] * len(self.heads)
        for layer in self.layers:
            task_inputs, shared = layer(task_inputs, shared, training)
        return [head(x, training) for head, x in zip(self.heads, task_inputs)]

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        super().validate_config(model_config, locate)
        networks = model_config.ple.extraction_networks
        if not networks:
            raise config_error(locate, "model_config.ple",
                               "PLE needs at least one extraction_networks block")
        for i, network in enumerate(networks):
            check_extraction_network(network, f"model_config.ple.extraction_networks[{i}]",
                                     last=i == len(networks) - 1, locate=locate)


def check_extraction_network(network: multi_task_pb2.ExtractionNetwork, where: str, last: bool,
                             locate: Locate) -> None:
    """Experts exist, and task and shared experts have the same output width (a gate mixes
    them); only the last layer may have no shared experts."""
    if network.expert_num_per_task < 1:
        raise config_error(locate, f"{where}.expert_num_per_task",
                           f"expert_num_per_task must be >= 1, got {network.expert_num_per_task}")
    if not network.task_expert_net.hidden_units:
        raise config_error(locate, f"{where}.task_expert_net",
                           "task_expert_net needs hidden_units")
    if network.share_num < 1:
        if not last:
            raise config_error(locate, f"{where}.share_num", "share_num must be >= 1 except in "
                               "the last extraction network (the next layer reads the shared "
                               "experts)")
        return
    if not network.share_expert_net.hidden_units:
        raise config_error(locate, f"{where}.share_expert_net",
                           "share_num > 0 needs share_expert_net { hidden_units: [...] }")
    task_width = network.task_expert_net.hidden_units[-1]
    share_width = network.share_expert_net.hidden_units[-1]
    if task_width != share_width:
        raise config_error(locate, f"{where}.share_expert_net.hidden_units",
                           f"the last hidden_units of share_expert_net ({share_width}) and "
                           f"task_expert_net ({task_width}) must match: a gate mixes them")
