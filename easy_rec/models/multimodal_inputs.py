"""Feature groups of the image-text models (CMBF, UNITER), as EasyRec names them:

- `image`: RawFeatures holding image embeddings (raw_input_dim values each, one width);
- `general`: embedded features (ids, bucketized values) of one width, each a token;
- `text`: SequenceFeatures of one embedding width (e.g. title words, genres), read unpooled;
- `other`: any features, concatenated (optionally through other_feature_dnn) after the fusion.

At least one of them must be defined.
"""
from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP
from easy_rec.models.checks import field_width
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.protos import dnn_pb2, easy_rec_model_pb2

GROUPS = ("image", "general", "text", "other")


@dataclass(frozen=True)
class ModalityShapes:
    """Widths and token counts of the modality groups present (0 when a group is absent)."""

    image_width: int
    image_count: int
    general_width: int
    general_count: int
    text_width: int
    text_lengths: tuple[int, ...]
    other_width: int


def modality_shapes(feature_layer: FeatureLayer, model_class: str) -> ModalityShapes:
    """Shapes of the groups; ValueError when the features of a group differ in width."""
    groups = feature_layer.groups

    def stacked(group: str) -> tuple[int, int]:
        if group not in groups:
            return 0, 0
        names = groups[group][0]
        return field_width(feature_layer, model_class, group, names), len(names)

    text_width, lengths = 0, ()
    if "text" in groups:
        dims = feature_layer.unpooled_dims("text")
        widths = {d for d, _ in dims}
        if len(widths) != 1:
            raise ValueError(f"{model_class} reads the features of group 'text' as tokens of one "
                             f"width; their embedding_dims differ: {sorted(widths)}")
        text_width, lengths = widths.pop(), tuple(n for _, n in dims)
    return ModalityShapes(*stacked("image"), *stacked("general"), text_width, lengths,
                          feature_layer.group_dim("other") if "other" in groups else 0)


def tokens(features: FeatureLayerOutput, group: str) -> tf.Tensor:
    """The features of `group` as tokens [batch, features, width]."""
    return tf.stack(features.deep[group], axis=1)


class OtherFeatures(Layer):
    """Group 'other' as is, or through other_feature_dnn when it is set."""

    def __init__(self, width: int, dnn: dnn_pb2.DNN | None, name: str = "other_dnn"):
        super().__init__(name=name)
        self.dnn = MLP(width, **mlp_kwargs(dnn), name=name) if dnn is not None else None
        self.output_dim = self.dnn.output_dim if self.dnn is not None else width

    def __call__(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        other = features.concat("other")
        return self.dnn(other, training) if self.dnn is not None else other


def check_modality_groups(model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
    """ConfigError unless at least one of the modality groups is defined."""
    defined = {g.group_name for g in model_config.feature_groups}
    if not defined & set(GROUPS):
        raise ConfigError(f"{model_config.model_class} needs at least one of the feature groups "
                          f"{', '.join(GROUPS)}; defined: {', '.join(sorted(defined)) or 'none'}",
                          line=locate("model_config.feature_groups") or locate("model_config"),
                          field="model_config.feature_groups")
