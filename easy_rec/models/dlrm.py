"""DLRM: an MLP over the dense features, interaction with the sparse embeddings, an MLP over
the result. The field names follow EasyRec's code, not the paper: `top_dnn` is the MLP over
the dense group (the paper's bottom MLP) and `bot_dnn` the one over the interaction (the
paper's top MLP), so EasyRec's DLRM configs build the same network here."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.layers.interaction import dot_interaction
from easy_rec.models.base import RankModel
from easy_rec.models.checks import field_width, require, require_field_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import dlrm_pb2, easy_rec_model_pb2

DENSE, SPARSE = "dense", "sparse"
INTERACTION_OPS = ("dot", "cat")


@register_model("DLRM", dlrm_pb2.DLRM)
class DLRM(RankModel):
    """dlrm { top_dnn bot_dnn arch_interaction_op arch_interaction_itself arch_with_dense_feature }.

    d = top_dnn(dense group); e_1..e_n the sparse group's embeddings.
    'dot': x = [<v_i, v_j> for i < j (i <= j with arch_interaction_itself) over
    v = (d, e_1, ..., e_n), e_1, ..., e_n, d if arch_with_dense_feature]; every v needs one
    width, so top_dnn's last layer must equal the embedding_dim.
    'cat': x = [d, e_1, ..., e_n]. logit = dense(bot_dnn(x)).
    """

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        self._dot = params.arch_interaction_op == "dot"
        self.top_dnn = MLP(feature_layer.group_dim(DENSE), **mlp_kwargs(params.top_dnn),
                           name="top_dnn")
        sparse_names, _ = feature_layer.groups[SPARSE]
        sparse_width = feature_layer.group_dim(SPARSE)
        if self._dot:
            width = field_width(feature_layer, "DLRM", SPARSE, sparse_names)
            if width != self.top_dnn.output_dim:
                raise ValueError(f"DLRM with arch_interaction_op 'dot' needs top_dnn's last "
                                 f"hidden_units ({self.top_dnn.output_dim}), the output over "
                                 f"the dense group, to equal the sparse embedding_dim ({width})")
            n = len(sparse_names) + 1
            pairs = n * (n + 1) // 2 if params.arch_interaction_itself else n * (n - 1) // 2
            interaction_width = pairs + sparse_width
            if params.arch_with_dense_feature:
                interaction_width += self.top_dnn.output_dim
        else:
            interaction_width = self.top_dnn.output_dim + sparse_width
        self.bot_dnn = MLP(interaction_width, **mlp_kwargs(params.bot_dnn), name="bot_dnn")
        self.output_layer = Dense(self.bot_dnn.output_dim, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        dense = self.top_dnn(features.concat(DENSE), training)
        sparse = features.deep[SPARSE]
        if self._dot:
            parts = [dot_interaction([dense] + sparse, self.params.arch_interaction_itself)]
            parts += sparse
            if self.params.arch_with_dense_feature:
                parts.append(dense)
        else:
            parts = [dense] + sparse
        return self.output_layer(self.bot_dnn(tf.concat(parts, axis=1), training))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        for group in (DENSE, SPARSE):
            require_field_group(model_config, group, 1, locate)
        op = model_config.dlrm.arch_interaction_op
        require(op in INTERACTION_OPS, "model_config.dlrm.arch_interaction_op",
                f"arch_interaction_op must be one of {', '.join(INTERACTION_OPS)}, got {op!r}",
                locate)
