"""xDeepFM: linear part + compressed interaction network (CIN) + MLP."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.cin import CIN
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.checks import field_width, require, require_field_group, require_wide_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, xdeepfm_pb2


@register_model("xDeepFM", xdeepfm_pb2.XDeepFM)
class XDeepFM(RankModel):
    """Groups 'wide' (WIDE) and 'deep' (DEEP); the CIN's fields are the deep group's embedded
    features (one embedding_dim), the MLP takes the whole deep group.

    Without final_dnn the logit is wide + dense([CIN(deep), MLP(deep)]); with it, the wide
    output (wide_output_dim wide), the CIN and the MLP outputs go through final_dnn and a dense
    layer.
    """

    def wide_output_dim_from_config(self) -> int:
        return int(self.params.wide_output_dim) if self.params.HasField("final_dnn") \
            else self.output_dim

    def build(self, feature_layer: FeatureLayer) -> None:
        names, _ = feature_layer.groups["deep"]
        self._field_index = [i for i, n in enumerate(names) if feature_layer.is_field_embedding(n)]
        field_width(feature_layer, "xDeepFM", "deep", [names[i] for i in self._field_index])
        cin = self.params.cin
        self.cin = CIN(len(self._field_index), list(cin.hidden_feature_maps), cin.split_half,
                       name="cin")
        self.dnn = MLP(feature_layer.group_dim("deep"), **mlp_kwargs(self.params.dnn), name="dnn")
        width = self.cin.output_dim + self.dnn.output_dim
        self.final_dnn = None
        if self.params.HasField("final_dnn"):
            self.final_dnn = MLP(width + self.wide_output_dim_from_config(),
                                 **mlp_kwargs(self.params.final_dnn), name="final_dnn")
            width = self.final_dnn.output_dim
        self.output_layer = Dense(width, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        wide = features.wide_sum("wide")
        deep = features.deep["deep"]
        cin = self.cin(tf.stack([deep[i] for i in self._field_index], axis=1))
        dnn = self.dnn(tf.concat(deep, axis=1), training)
        if self.final_dnn is not None:
            return self.output_layer(self.final_dnn(tf.concat([wide, cin, dnn], axis=1), training))
        return wide + self.output_layer(tf.concat([cin, dnn], axis=1))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_wide_group(model_config, "wide", locate)
        require_field_group(model_config, "deep", 1, locate)
        cin = model_config.xdeepfm.cin
        maps = list(cin.hidden_feature_maps)
        field = "model_config.xdeepfm.cin.hidden_feature_maps"
        require(bool(maps) and min(maps) >= 1, field,
                "hidden_feature_maps needs at least one layer, each of at least 1 map", locate)
        require(not cin.split_half or all(m % 2 == 0 for m in maps[:-1]), field,
                f"with split_half every layer but the last needs an even number of maps, got "
                f"{maps}", locate)
