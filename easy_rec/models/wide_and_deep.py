"""Wide & Deep: a linear model over the 'wide' group plus an MLP over the 'deep' group.

Without a 'deep' group (EasyRec requires one) the model is logistic regression: the wide
weights' sum plus a learned bias (the linear baseline of scripts/bench/criteo_avazu_bench.py)."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, models_pb2


@register_model("WideAndDeep", models_pb2.WideAndDeep)
class WideAndDeep(RankModel):
    """Without final_dnn the logit is wide + dense(deep); with it, [wide, deep] -> final_dnn."""

    def wide_output_dim_from_config(self) -> int:
        return int(self.params.wide_output_dim) if self.params.HasField("final_dnn") \
            else self.output_dim

    def build(self, feature_layer: FeatureLayer) -> None:
        if "deep" not in feature_layer.groups:
            self.dnn = self.final_dnn = self.output_layer = None
            self.bias = tf.Variable(tf.zeros([self.output_dim]), name="bias")
            return
        self.dnn = MLP(feature_layer.group_dim("deep"), **mlp_kwargs(self.params.dnn), name="dnn")
        self.final_dnn = None
        width = self.dnn.output_dim
        if self.params.HasField("final_dnn"):
            self.final_dnn = MLP(width + self.wide_output_dim_from_config(),
                                 **mlp_kwargs(self.params.final_dnn), name="final_dnn")
            width = self.final_dnn.output_dim
        self.output_layer = Dense(width, self.output_dim, name="output")

    def first_optimizer_variables(self) -> list[tf.Variable]:
        """EasyRec's WideAndDeep with two optimizers: the first trains the wide part only
        (e.g. FTRL), the second the deep embeddings and the layers."""
        return self.feature_layer.input_variables(wide_only=True)

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        wide = features.wide_sum("wide")
        if self.dnn is None:
            return wide + self.bias
        deep = self.dnn(features.concat("deep"), training)
        if self.final_dnn is not None:
            return self.output_layer(self.final_dnn(tf.concat([wide, deep], axis=1), training))
        return wide + self.output_layer(deep)

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, ["wide"], locate)
