"""DCN-V2: matrix-weighted cross network (full or low rank) with an optional parallel MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.cross import CrossNetV2
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_field_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import dcn_pb2, easy_rec_model_pb2

GROUP = "all"


@register_model("DCNV2", dcn_pb2.DCNV2)
class DCNV2(RankModel):
    """dcn_v2 { [backbone] cross { cross_num low_rank } [deep] final l2_regularization }.

    x = backbone(all) (or the group itself); h = [CrossNetV2(x), deep(x)] (the deep part only
    when configured); logit = dense(final(h)). Cross: x_{l+1} = x0 * (W_l x_l + b_l) + x_l.
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        width = feature_layer.group_dim(GROUP)
        self.backbone = None
        if params.HasField("backbone"):
            self.backbone = MLP(width, **mlp_kwargs(params.backbone), name="backbone")
            width = self.backbone.output_dim
        self.cross = CrossNetV2(width, int(params.cross.cross_num), int(params.cross.low_rank),
                                name="cross")
        self.deep = MLP(width, **mlp_kwargs(params.deep), name="deep") \
            if params.HasField("deep") else None
        final_width = self.cross.output_dim + (self.deep.output_dim if self.deep else 0)
        self.final = MLP(final_width, **mlp_kwargs(params.final), name="final")
        self.output_layer = Dense(self.final.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        x = features.concat(GROUP)
        if self.backbone is not None:
            x = self.backbone(x, training)
        parts = [self.cross(x)]
        if self.deep is not None:
            parts.append(self.deep(x, training))
        return self.output_layer(self.final(tf.concat(parts, axis=1), training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_field_group(model_config, GROUP, 1, locate)
        require(model_config.dcn_v2.cross.cross_num >= 1, "model_config.dcn_v2.cross.cross_num",
                "cross_num must be >= 1", locate)
