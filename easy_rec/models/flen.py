"""FLEN: linear part + field-wise bi-interaction (MF between fields, FM within) + DNN."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import WIDE, FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.field_interaction import FieldWiseBiInteraction
from easy_rec.models.base import RankModel
from easy_rec.models.checks import (
    field_width,
    require,
    require_field_group,
    require_wide_group,
)
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, flen_pb2

WIDE_GROUP = "wide"


def field_groups(model_config: easy_rec_model_pb2.EasyRecModel) -> list[str]:
    """flen.field_groups, or when empty every group whose wide_deep is not WIDE, in order."""
    listed = list(model_config.flen.field_groups)
    return listed or [g.group_name for g in model_config.feature_groups if g.wide_deep != WIDE]


@register_model("FLEN", flen_pb2.FLEN)
class FLEN(RankModel):
    """flen { field_groups: [...] dnn {...} l2_regularization } plus a 'wide' group.

    Each field group is one field (e.g. user, item, context); all their features share one
    embedding width k. logit = wide + dense([FwBI(fields), MLP(all field embeddings)]),
    where FwBI sums the weighted products of field sums (MF between fields) and the
    weighted pairwise products inside each field (FM within fields), a [batch, k] vector.
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        self._fields = field_groups(self.model_config)
        names = [n for g in self._fields for n in feature_layer.groups[g][0]]
        width = field_width(feature_layer, "FLEN", "+".join(self._fields), names)
        self.interaction = FieldWiseBiInteraction(len(self._fields), name="fwbi")
        self.dnn = MLP(len(names) * width, **mlp_kwargs(self.params.dnn), name="dnn")
        self.output_layer = Dense(width + self.dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        fields = [tf.stack(features.deep[g], axis=1) for g in self._fields]
        interaction = self.interaction(fields)
        deep = self.dnn(tf.concat([features.concat(g) for g in self._fields], axis=1), training)
        hidden = tf.concat([interaction, deep], axis=1)
        return features.wide_sum(WIDE_GROUP) + self.output_layer(hidden)

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_wide_group(model_config, WIDE_GROUP, locate)
        groups = field_groups(model_config)
        require(len(groups) >= 2, "model_config.flen.field_groups",
                f"FLEN needs at least two field groups; got {groups}", locate)
        for name in groups:
            require_field_group(model_config, name, 1, locate)
