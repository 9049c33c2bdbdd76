"""DIFM: a factorization machine re-weighted per example by dual input-aware factors."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.attention import InteractingLayer
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.interaction import fm_interaction
from easy_rec.models.base import RankModel
from easy_rec.models.checks import field_width, require, require_field_group, require_wide_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import difm_pb2, easy_rec_model_pb2

GROUP = "all"
WIDE_GROUP = "wide"


@register_model("DIFM", difm_pb2.DIFM)
class DIFM(RankModel):
    """difm { att_head_num att_head_size dnn {...} l2_regularization }; groups 'all', 'wide'.

    The f features of group 'all' (one embedding width) are the fields e_i. The input-aware
    factor m = P_vec flatten(ReLU(MHSA(E) + E W_res)) + P_bit MLP(concat(E)) has one entry
    per field, and logit = b + sum_i m_i w_i + sum_{i<j} <m_i e_i, m_j e_j>, where w_i is the
    'wide' group's weight of feature i (wide features must also be in 'all').
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        names, _ = feature_layer.groups[GROUP]
        wide_names, _ = feature_layer.groups[WIDE_GROUP]
        self._wide_index = [names.index(n) for n in wide_names]
        width = field_width(feature_layer, "DIFM", GROUP, names)
        self.attention = InteractingLayer(width, int(self.params.att_head_num),
                                          int(self.params.att_head_size), name="attention")
        self._flat_dim = len(names) * self.attention.output_dim
        self.vector_factor = Dense(self._flat_dim, len(names), use_bias=False, name="vector_factor")
        self.dnn = MLP(len(names) * width, **mlp_kwargs(self.params.dnn), name="dnn")
        self.bit_factor = Dense(self.dnn.output_dim, len(names), use_bias=False, name="bit_factor")
        self.bias = tf.Variable(tf.zeros([1]), name="bias")

    def input_aware_factor(self, fields: tf.Tensor, training: bool) -> tf.Tensor:
        """[batch, fields, width] embeddings -> [batch, fields] factor m (vector- + bit-wise)."""
        attended = tf.reshape(self.attention(fields), [-1, self._flat_dim])
        flat = tf.reshape(fields, [-1, fields.shape[1] * fields.shape[2]])
        return self.vector_factor(attended) + self.bit_factor(self.dnn(flat, training))

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        embeddings = features.deep[GROUP]
        factor = self.input_aware_factor(tf.stack(embeddings, axis=1), training)
        wide = tf.concat(features.wide[WIDE_GROUP], axis=1)  # [batch, wide features]
        linear = tf.reduce_sum(tf.gather(factor, self._wide_index, axis=1) * wide, axis=1,
                               keepdims=True)
        second = fm_interaction([factor[:, i:i + 1] * e for i, e in enumerate(embeddings)])
        return self.bias + linear + second

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_field_group(model_config, GROUP, 2, locate)
        require_wide_group(model_config, WIDE_GROUP, locate)
        params = model_config.difm
        for name in ("att_head_num", "att_head_size"):
            require(getattr(params, name) >= 1, f"model_config.difm.{name}",
                    f"{name} must be >= 1", locate)
        require(model_config.num_class <= 1, "model_config.num_class",
                "DIFM predicts a single logit; num_class must be 1", locate)
        groups = {g.group_name: (i, g) for i, g in enumerate(model_config.feature_groups)}
        fields = set(groups[GROUP][1].feature_names)
        index, wide = groups[WIDE_GROUP]
        for j, name in enumerate(wide.feature_names):
            require(name in fields, f"model_config.feature_groups[{index}].feature_names[{j}]",
                    f"DIFM re-weights each linear weight by its field's factor, so wide feature "
                    f"{name!r} must also be in group {GROUP!r}", locate)
