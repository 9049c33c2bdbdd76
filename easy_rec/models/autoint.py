"""AutoInt: stacked multi-head self-attention over field embeddings (AutoInt+ with a dnn)."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.attention import InteractingLayer
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.checks import field_width, require, require_field_group
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.protos import autoint_pb2, easy_rec_model_pb2

GROUP = "all"


@register_model("AutoInt", autoint_pb2.AutoInt)
class AutoInt(RankModel):
    """autoint { multi_head_num multi_head_size interacting_layer_num [dnn] l2_regularization }.

    The features of group 'all' (one embedding width), then the fields of its
    sequence_features (pooled histories, keys), are the fields; each interacting layer
    is ReLU(MultiHeadSelfAttention(X) + X W_res). logit = dense(flatten(X_L)), or with `dnn`
    (AutoInt+) dense([flatten(X_L), MLP(all)]). As in EasyRec, l2_regularization covers the
    attention and residual kernels (and the dnn's), not the output layer.
    """

    l2_exempt = ("output_layer",)

    def build(self, feature_layer: FeatureLayer) -> None:
        names, _ = feature_layer.groups[GROUP]
        width = field_width(feature_layer, "AutoInt", GROUP, names)
        dims = feature_layer.field_dims(GROUP)  # the features, then sequence_features fields
        if set(dims) != {width}:
            raise ValueError(f"AutoInt stacks the outputs of group {GROUP!r} as fields of one "
                             f"width; its sequence_features give widths {dims[len(names):]}, "
                             f"its features {width}")
        self._num_fields = len(dims)
        self.interacting = []
        for i in range(int(self.params.interacting_layer_num)):
            layer = InteractingLayer(width, int(self.params.multi_head_num),
                                     int(self.params.multi_head_size), name=f"interacting_{i}")
            self.interacting.append(layer)
            width = layer.output_dim
        self._flat_dim = self._num_fields * width
        self.dnn = None
        head_width = self._flat_dim
        if self.params.HasField("dnn"):
            self.dnn = MLP(feature_layer.group_dim(GROUP), **mlp_kwargs(self.params.dnn),
                           name="dnn")
            head_width += self.dnn.output_dim
        self.output_layer = Dense(head_width, self.output_dim, name="output")

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        fields = tf.stack(features.deep[GROUP], axis=1)  # [batch, fields, width]
        for layer in self.interacting:
            fields = layer(fields)
        parts = [tf.reshape(fields, [-1, self._flat_dim])]
        if self.dnn is not None:
            parts.append(self.dnn(features.concat(GROUP), training))
        return self.output_layer(tf.concat(parts, axis=1))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_field_group(model_config, GROUP, 1, locate)
        params = model_config.autoint
        for name in ("multi_head_num", "multi_head_size", "interacting_layer_num"):
            require(getattr(params, name) >= 1, f"model_config.autoint.{name}",
                    f"{name} must be >= 1", locate)
