"""MultiTower: one MLP tower per feature group, concatenated into a final MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers import shared_rows
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require_groups, warn_ignored_sequence_towers
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, models_pb2


@register_model("MultiTower", models_pb2.MultiTower)
class MultiTower(RankModel):
    """towers { input: '<group>' dnn {...} } ... final_dnn {...}.

    As in EasyRec, each tower batch-normalises its group's features before its MLP, and
    l2_regularization does not cover the output layer.
    """

    l2_exempt = ("output_layer",)

    def build(self, feature_layer: FeatureLayer) -> None:
        self.towers = [
            MLP(feature_layer.group_dim(t.input), **mlp_kwargs(t.dnn), input_bn=True,
                name=f"tower_{t.input}")
            for t in self.params.towers
        ]
        self._tower_inputs = [t.input for t in self.params.towers]
        width = sum(t.output_dim for t in self.towers)
        self.final_dnn = MLP(width, **mlp_kwargs(self.params.final_dnn), name="final_dnn")
        self.output_layer = Dense(self.final_dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        towers = [group_tower(features, tower, group, training)
                  for tower, group in zip(self.towers, self._tower_inputs)]
        return self.output_layer(self.final_dnn(shared_rows.concat(towers, axis=1), training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        from easy_rec.config.errors import ConfigError

        towers = model_config.multi_tower.towers
        warn_ignored_sequence_towers(model_config, None)
        if not towers:
            raise ConfigError("MultiTower needs at least one towers block",
                              line=locate("model_config.multi_tower"), field="model_config.multi_tower")
        require_groups(model_config, [t.input for t in towers], locate)


def group_tower(features: FeatureLayerOutput, tower: MLP, group: str, training: bool) -> tf.Tensor:
    """`tower` over feature group `group`, once per request for a user-side group of a one
    user × N items call (FeatureLayerOutput.per_user)."""
    return features.per_user([group], lambda f: tower(f.concat(group), training))
