"""FM: bias + linear terms ('wide' group) + pairwise factorization over the 'deep' group."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.interaction import fm_interaction_by_width
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require_groups
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, models_pb2


@register_model("FM", models_pb2.FM)
class FM(RankModel):
    """Classic factorization machine over the embeddings of the 'deep' group (fields of one
    width interact; with several widths, each width's fields among themselves)."""

    def build(self, feature_layer: FeatureLayer) -> None:
        names, _ = feature_layer.groups["deep"]
        self._fm_index = [i for i, n in enumerate(names) if feature_layer.is_field_embedding(n)]
        self.bias = tf.Variable(tf.zeros([1]), name="bias")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        deep = features.deep["deep"]
        fm = fm_interaction_by_width([deep[i] for i in self._fm_index])
        return features.wide_sum("wide") + fm + self.bias

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, ["wide", "deep"], locate)
