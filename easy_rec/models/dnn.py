"""DNN: a plain MLP over the concatenation of every deep feature group."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.feature_layer import WIDE, FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import models_pb2


@register_model("DNN", models_pb2.DNNModel)
class DNN(RankModel):
    """model_config { model_class: 'DNN' dnn { dnn { hidden_units: [...] } } }."""

    def build(self, feature_layer: FeatureLayer) -> None:
        self._groups = [g for g, (_, kind) in feature_layer.groups.items() if kind != WIDE]
        width = sum(feature_layer.group_dim(g) for g in self._groups)
        self.dnn = MLP(width, **mlp_kwargs(self.params.dnn), name="dnn")
        self.output_layer = Dense(self.dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        inputs = tf.concat([features.concat(g) for g in self._groups], axis=1)
        return self.output_layer(self.dnn(inputs, training))

