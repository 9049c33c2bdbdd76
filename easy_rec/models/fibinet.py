"""FiBiNET: SENET field re-weighting and bilinear feature interactions, then an MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.field_interaction import BILINEAR_TYPES, Bilinear, SENet
from easy_rec.models.base import RankModel
from easy_rec.models.checks import field_width, require, require_field_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, fibinet_pb2

GROUP = "all"


@register_model("FiBiNet", fibinet_pb2.FiBiNet)
class FiBiNet(RankModel):
    """fibinet { senet {...} bilinear {...} mlp {...} l2_regularization }.

    The features of group 'all' (one embedding width) are the fields E. SENET gives the
    re-weighted fields V; one bilinear layer interacts the pairs of E, a second one those of
    V; logit = dense(MLP([bilinear(E), bilinear(V)])).
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        names, _ = feature_layer.groups[GROUP]
        width = field_width(feature_layer, "FiBiNet", GROUP, names)
        senet, bilinear = self.params.senet, self.params.bilinear
        self.senet = SENet(len(names), width, int(senet.reduction_ratio),
                           int(senet.num_squeeze_group), senet.use_skip_connection,
                           senet.use_output_layer_norm, name="senet")
        self.bilinear = [
            Bilinear(len(names), width, int(bilinear.num_output_units), bilinear.type,
                     bilinear.use_plus, name=name)
            for name in ("bilinear", "senet_bilinear")]
        self.mlp = MLP(2 * int(bilinear.num_output_units), **mlp_kwargs(self.params.mlp),
                       name="mlp")
        self.output_layer = Dense(self.mlp.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        fields = tf.stack(features.deep[GROUP], axis=1)  # [batch, fields, width]
        original, reweighted = self.bilinear
        hidden = tf.concat([original(fields), reweighted(self.senet(fields))], axis=1)
        return self.output_layer(self.mlp(hidden, training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_field_group(model_config, GROUP, 2, locate)
        params = model_config.fibinet
        require(params.bilinear.type in BILINEAR_TYPES, "model_config.fibinet.bilinear.type",
                f"bilinear type must be one of {', '.join(BILINEAR_TYPES)}; got "
                f"{params.bilinear.type!r}", locate)
        for name in ("bilinear.num_output_units", "senet.reduction_ratio",
                     "senet.num_squeeze_group"):
            block, field = name.split(".")
            require(getattr(getattr(params, block), field) >= 1, f"model_config.fibinet.{name}",
                    f"{field} must be >= 1", locate)
