"""RankModel: a ranking model whose network is the backbone (EasyRec's model_class RankModel).

The backbone's output is the logit when its width is the model's output width (1, or
num_class); otherwise a dense layer named `output` maps it there. Outputs, losses and metrics
are those of every ranking model (classification: probs / logits; regression: y).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import Dense
from easy_rec.models.backbone.input_layer import paired_feature_groups
from easy_rec.models.backbone.network import (
    Backbone,
    ExtraOutputs,
    losses_in,
    wide_output_dim,
    with_losses,
)
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2


def require_backbone(model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
    """ConfigError unless model_config has a backbone (the network of the backbone models)."""
    require(model_config.HasField("backbone"), "model_config.model_params",
            f"model_class {model_config.model_class} builds its network from "
            "model_config.backbone { blocks {...} }, which is not set", locate)


@register_model("RankModel", easy_rec_model_pb2.ModelParams)
class BackboneRankModel(RankModel):
    """model_config { model_class: "RankModel" backbone {...} model_params {...} }."""

    reads_backbone = True

    @property
    def paired_groups(self) -> tuple[str, ...]:
        return paired_feature_groups(self.model_config)

    def wide_output_dim_from_config(self) -> int:
        return wide_output_dim(self.model_config)

    def build(self, feature_layer: FeatureLayer) -> None:
        self.backbone = Backbone(self.model_config.backbone, feature_layer)
        self.extra_outputs = ExtraOutputs(list(self.params.outputs), self.backbone)
        width = self.backbone.output_dim
        self.output_layer = (Dense(width, self.output_dim, name="output")
                             if width != self.output_dim else None)

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        output, losses, blocks = self.backbone.run(features, training)
        logits = self.output_layer(output) if self.output_layer is not None else output
        outputs = self.extra_outputs.add(self.outputs_from_logits(logits), blocks)
        return with_losses(outputs, losses)

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        return {**super().loss_dict(outputs, batch), **losses_in(outputs)}

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        return self.extra_outputs.served(super().serving_outputs(outputs), outputs)

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_backbone(model_config, locate)
