"""DBMTL: shared bottom (optionally MMoE) and task towers linked by Bayesian dependencies."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP
from easy_rec.layers.experts import MMoELayer
from easy_rec.models.backbone.network import optional_backbone
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multi_task import (
    MultiTaskModel,
    TowerHead,
    check_relation_towers,
    config_error,
)
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, multi_task_pb2


@register_model("DBMTL", multi_task_pb2.DBMTL)
class DBMTL(MultiTaskModel):
    """Group 'all' -> bottom_dnn (or model_config.backbone, without bottom_dnn, as EasyRec)
    -> [MMoE] -> per task, in tower order:

    h_t = dnn_t(task input), r_t = relation_dnn_t([h_t, r_d for d in relation_tower_names]),
    logits_t = output_t(r_t); a tower sees the relation outputs of the towers it depends on.
    """

    reads_backbone = True

    def build(self, feature_layer: FeatureLayer) -> None:
        params, tasks = self.params, self.tasks
        self.backbone = optional_backbone(self.model_config, feature_layer)
        self.bottom = None if self.backbone else MLP(
            feature_layer.group_dim("all"), **mlp_kwargs(params.bottom_dnn), name="bottom_dnn")
        dim = self.backbone.output_dim if self.backbone else self.bottom.output_dim
        self.mmoe = None
        if params.num_expert > 0:
            self.mmoe = MMoELayer(dim, mlp_kwargs(params.expert_dnn), int(params.num_expert),
                                  len(tasks))
            dim = self.mmoe.output_dim
        self.tower_dnns, self.heads = [], []
        relation_dims: dict[str, int] = {}
        for tower, task in zip(params.task_towers, tasks):
            tower_dnn = MLP(dim, **mlp_kwargs(tower.dnn), name=f"tower_{task.name}")
            width = tower_dnn.output_dim + sum(relation_dims[r] for r in tower.relation_tower_names)
            head = TowerHead(width, tower.relation_dnn, task.output_dim, name=f"relation_{task.name}")
            relation_dims[task.name] = head.dnn.output_dim
            self.tower_dnns.append(tower_dnn)
            self.heads.append(head)
        self._relations = [list(t.relation_tower_names) for t in params.task_towers]

    def task_logits(self, features: FeatureLayerOutput, training: bool) -> list[tf.Tensor]:
        if self.backbone is not None:
            bottom, _ = self.backbone(features, training)
        else:
            bottom = self.bottom(features.concat("all"), training)
        task_inputs = self.mmoe(bottom, training) if self.mmoe else [bottom] * len(self.heads)
        relation: dict[str, tf.Tensor] = {}
        logits = []
        for task, x, tower_dnn, head, deps in zip(self.tasks, task_inputs, self.tower_dnns,
                                                  self.heads, self._relations):
            hidden = tf.concat([tower_dnn(x, training)] + [relation[d] for d in deps], axis=1)
            relation[task.name] = head.dnn(hidden, training)
            logits.append(head.output(relation[task.name]))
        return logits

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        super().validate_config(model_config, locate)
        params = model_config.dbmtl
        if params.num_expert > 0 and not params.expert_dnn.hidden_units:
            raise config_error(locate, "model_config.dbmtl.expert_dnn",
                               "num_expert > 0 needs expert_dnn { hidden_units: [...] }")
        check_relation_towers(cls.towers_in(model_config), locate)
