"""DeepFM: wide (linear) + factorization machine + deep MLP over shared embeddings."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.interaction import fm_interaction, fm_interaction_by_width
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, models_pb2


@register_model("DeepFM", models_pb2.DeepFM)
class DeepFM(RankModel):
    """Groups: 'wide' (WIDE) and 'deep' (DEEP); the FM term uses group 'fm' if given, else 'deep'.

    Without final_dnn the logit is wide + fm + dense(deep); with it, [wide, fm, deep] go
    through final_dnn, the FM part as EasyRec's per-dimension vector sum_{i<j} v_i * v_j
    ([batch, embedding_dim]).
    """

    def wide_output_dim_from_config(self) -> int:
        return int(self.params.wide_output_dim) if self.params.HasField("final_dnn") else 1

    def build(self, feature_layer: FeatureLayer) -> None:
        self._fm_group = "fm" if "fm" in feature_layer.groups else "deep"
        fm_names, _ = feature_layer.groups[self._fm_group]
        self._fm_index = [i for i, n in enumerate(fm_names) if feature_layer.is_field_embedding(n)]
        self.dnn = MLP(feature_layer.group_dim("deep"), **mlp_kwargs(self.params.dnn), name="dnn")
        self.final_dnn = None
        if self.params.HasField("final_dnn"):
            fm_width = feature_layer.feature_dim(fm_names[self._fm_index[0]])
            width = self.dnn.output_dim + self.wide_output_dim_from_config() + fm_width
            self.final_dnn = MLP(width, **mlp_kwargs(self.params.final_dnn), name="final_dnn")
            self.output_layer = Dense(self.final_dnn.output_dim, self.output_dim, name="output")
        else:
            self.output_layer = Dense(self.dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        wide = features.wide_sum("wide")
        fm_inputs = features.deep[self._fm_group]
        fm_fields = [fm_inputs[i] for i in self._fm_index]
        deep = self.dnn(features.concat("deep"), training)
        if self.final_dnn is not None:
            fm = fm_interaction(fm_fields, per_dimension=True)
            hidden = self.final_dnn(tf.concat([wide, fm, deep], axis=1), training)
            return self.output_layer(hidden)
        return wide + fm_interaction_by_width(fm_fields) + self.output_layer(deep)

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, ["wide", "deep"], locate)
