"""MultiTaskModel: task towers over the backbone (EasyRec's model_class MultiTaskModel).

model_params.task_towers lists the tasks (BayesTaskTower). A backbone with one output feeds
every tower; with output_blocks it gives one output per tower, in order. Each tower runs its
`dnn` (none: identity); a tower with a `relation_dnn` runs it over [its dnn output, the
relation outputs of its relation_tower_names] (DBMTL's Bayesian links), a tower without one
passes its dnn output on; a dense layer per tower gives the logits.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.backbone.input_layer import paired_feature_groups
from easy_rec.models.backbone.network import (
    BACKBONE_PATH,
    Backbone,
    ExtraOutputs,
    losses_in,
    wide_output_dim,
    with_losses,
)
from easy_rec.models.backbone.rank_model import require_backbone
from easy_rec.models.backbone.spec import BackboneError
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multi_task import MultiTaskModel, check_relation_towers
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2


@register_model("MultiTaskModel", easy_rec_model_pb2.ModelParams)
class BackboneMultiTaskModel(MultiTaskModel):
    """model_config { model_class: "MultiTaskModel" backbone {...}
    model_params { task_towers {...} ... } }."""

    reads_backbone = True

    @property
    def paired_groups(self) -> tuple[str, ...]:
        return paired_feature_groups(self.model_config)

    def wide_output_dim_from_config(self) -> int:
        return wide_output_dim(self.model_config)

    def build(self, feature_layer: FeatureLayer) -> None:
        self.backbone = Backbone(self.model_config.backbone, feature_layer)
        self.extra_outputs = ExtraOutputs(list(self.params.outputs), self.backbone)
        towers = list(self.params.task_towers)
        shape = self.backbone.output_shape
        if isinstance(shape, list):
            if len(shape) != len(towers):
                raise BackboneError(f"{BACKBONE_PATH}.output_blocks", f"{len(shape)} backbone "
                                    f"outputs for {len(towers)} task towers; they must match")
            widths = [int(s[-1]) for s in shape]
        else:
            widths = [self.backbone.output_dim] * len(towers)
        self.tower_dnns, self.relation_dnns, self.heads = [], [], []
        relation_widths: dict[str, int] = {}
        for tower, task, width in zip(towers, self.tasks, widths):
            dnn = MLP(width, **mlp_kwargs(tower.dnn), name=f"{task.name}_dnn")
            relation = None
            width = dnn.output_dim
            if tower.HasField("relation_dnn"):
                inputs = width + sum(relation_widths[r] for r in tower.relation_tower_names)
                relation = MLP(inputs, **mlp_kwargs(tower.relation_dnn),
                               name=f"{task.name}_relation_dnn")
                width = relation.output_dim
            relation_widths[task.name] = width
            self.tower_dnns.append(dnn)
            self.relation_dnns.append(relation)
            self.heads.append(Dense(width, task.output_dim, name=f"{task.name}_output"))

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        output, losses, blocks = self.backbone.run(features, training)
        towers = self.params.task_towers
        inputs = output if isinstance(output, list) else [output] * len(towers)
        relations: dict[str, tf.Tensor] = {}
        outputs: dict[str, tf.Tensor] = {}
        for tower, task, x, dnn, relation, head in zip(towers, self.tasks, inputs,
                                                        self.tower_dnns, self.relation_dnns,
                                                        self.heads):
            hidden = dnn(x, training)
            if relation is not None:
                linked = [relations[r] for r in tower.relation_tower_names]
                hidden = relation(tf.concat([hidden, *linked], axis=-1), training)
            relations[task.name] = hidden
            outputs.update(self.outputs_from_logits(head(hidden), task))
        return with_losses(self.extra_outputs.add(outputs, blocks), losses)

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        return {**super().loss_dict(outputs, batch), **losses_in(outputs)}

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return self.extra_outputs.served(super().serving_outputs(outputs), outputs)

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_backbone(model_config, locate)
        super().validate_config(model_config, locate)
        check_relation_towers(cls.towers_in(model_config), locate)
