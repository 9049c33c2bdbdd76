"""input_layer blocks: a feature group's embeddings in the form a block asks for.

EasyRec's input layer (InputLayer message) returns a group as one [batch, sum of dims] tensor
(default), the list of per-feature [batch, dim] tensors (only_output_feature_list), a
[batch, features, dim] tensor (only_output_3d_tensor), the pair (tensor, list)
(output_2d_tensor_and_feature_list), or for a sequence group the triple (sequence [batch,
len, dim], length [batch], target [batch, dim] or None) (output_seq_and_normal_feature: a
seq_att_groups entry, or a feature group whose SequenceFeatures, concatenated per element, are
the sequence and whose other features, concatenated, are the target, as EasyRec's
`sequence` groups of its BST / DIN backbone samples). On the
way it may batch- or layer-normalise (the concatenation and, for list outputs, each feature
with its own parameters), apply dropout, or drop whole features (feature_dropout_rate: one
Bernoulli draw per feature and step, kept features scaled by 1 / keep probability).

A WIDE group gives its wide embeddings (wide_output_dim wide), other groups their deep ones.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

import tensorflow as tf

from easy_rec.features.feature_layer import (
    DEEP,
    WIDE,
    FeatureLayer,
    FeatureLayerOutput,
    SequenceGroup,
)
from easy_rec.layers.base import Layer
from easy_rec.layers.core import BatchNorm
from easy_rec.layers.norm import LayerNorm
from easy_rec.models.backbone.group_values import placeholder_encoded
from easy_rec.models.backbone.spec import BackboneError
from easy_rec.protos import backbone_pb2, easy_rec_model_pb2

#: batch size of the placeholder features the backbone is built with
PLACEHOLDER_BATCH = 2


class GroupInput(tf.Module):
    """The input_layer of one feature group; its normalisation layers are created by the
    first call (the backbone's build pass), one set per option that needs them."""

    def __init__(self, feature_layer: FeatureLayer, group: str, path: str, name: str):
        super().__init__(name=name)
        self.group = group
        self.path = path
        self._sequence = group in feature_layer.sequence_groups
        self._wide = not self._sequence and feature_layer.groups[group][1] == WIDE
        self.norms: dict[str, Layer] = {}

    def __call__(self, features: FeatureLayerOutput, config: backbone_pb2.InputLayer,
                 training: bool) -> Any:
        if config.output_seq_and_normal_feature:
            return self._sequence_output(features, config)
        if self._sequence:
            raise BackboneError(self.path, f"{self.group!r} is a sequence group: its input_layer "
                                "needs output_seq_and_normal_feature: true")
        if config.do_batch_norm and config.do_layer_norm:
            raise BackboneError(self.path, "an input_layer cannot do batch norm and layer norm "
                                "at the same time")
        values = list(features.wide[self.group] if self._wide else features.deep[self.group])
        items = self._items(values, config, training)
        feature_dropout = training and 0.0 < config.feature_dropout_rate < 1.0
        concat = tf.concat(items if feature_dropout else values, axis=-1)
        if not feature_dropout:
            if config.do_batch_norm:
                concat = self._norm("bn", concat, BatchNorm)(concat, training)
            elif config.do_layer_norm:
                concat = self._norm("ln", concat, LayerNorm)(concat)
            concat = _dropout(concat, config.dropout_rate, training)
        if config.only_output_feature_list:
            return items
        if config.only_output_3d_tensor:
            widths = {int(v.shape[-1]) for v in items}
            if len(widths) > 1:
                raise BackboneError(self.path, f"only_output_3d_tensor stacks the features of "
                                    f"group {self.group!r}, which have different widths "
                                    f"{sorted(widths)}")
            return tf.stack(items, axis=1)
        if config.output_2d_tensor_and_feature_list:
            return concat, items
        return concat

    def _items(self, values: list[tf.Tensor], config: backbone_pb2.InputLayer,
               training: bool) -> list[tf.Tensor]:
        """The per-feature outputs: normalised, dropped out (list outputs) and feature-dropped."""
        as_list = (config.only_output_feature_list or config.only_output_3d_tensor
                   or config.output_2d_tensor_and_feature_list)
        feature_dropout = training and 0.0 < config.feature_dropout_rate < 1.0
        if not (as_list or feature_dropout):
            return values
        keep = 1.0 - config.feature_dropout_rate
        mask = tf.cast(tf.random.uniform([len(values)]) < keep, tf.float32) if feature_dropout \
            else None
        items = []
        for i, value in enumerate(values):
            if config.do_batch_norm:
                value = self._norm(f"bn_{i}", value, BatchNorm)(value, training)
            elif config.do_layer_norm:
                value = self._norm(f"ln_{i}", value, LayerNorm)(value)
            if as_list:
                value = _dropout(value, config.dropout_rate, training)
            if mask is not None:
                value = value / keep * mask[i]
            items.append(value)
        return items

    def _sequence_output(self, features: FeatureLayerOutput,
                         config: backbone_pb2.InputLayer) -> tuple[Any, tf.Tensor, Any]:
        if not self._sequence:
            raise BackboneError(self.path, f"output_seq_and_normal_feature needs a sequence "
                                f"group; {self.group!r} is a feature group without one")
        group: SequenceGroup = features.sequence[self.group]
        target = group.query if group.query.shape[-1] else None
        if config.concat_seq_feature:
            return group.sequence, group.length, target
        return [group.sequence], group.length, [target] if target is not None else []

    def _norm(self, key: str, value: tf.Tensor, kind: Callable[..., Layer]) -> Layer:
        if key not in self.norms:
            if not tf.executing_eagerly():
                raise RuntimeError(f"{self.path}: input_layer normalisation {key} was not built "
                                   "with the backbone")
            with self.name_scope:
                self.norms[key] = kind(int(value.shape[-1]), name=key)
        return self.norms[key]


def paired_feature_groups(model_config: easy_rec_model_pb2.EasyRecModel) -> tuple[str, ...]:
    """The feature groups (not seq_att_groups) that input_layer blocks read with
    output_seq_and_normal_feature: the model's feature layer pairs their histories with their
    targets (FeatureLayer's paired_groups)."""
    backbone = model_config.backbone
    feature_groups = {g.group_name for g in model_config.feature_groups}
    blocks = list(backbone.blocks) + [b for p in backbone.packages for b in p.blocks]
    groups = [source.feature_group_name for block in blocks
              if block.WhichOneof("layer") == "input_layer"
              and block.input_layer.output_seq_and_normal_feature
              for source in block.inputs if source.WhichOneof("name") == "feature_group_name"]
    return tuple(dict.fromkeys(g for g in groups if g in feature_groups))


def _dropout(value: tf.Tensor, rate: float, training: bool) -> tf.Tensor:
    return tf.nn.dropout(value, rate=rate) if training and 0.0 < rate < 1.0 else value


def placeholder_features(feature_layer: FeatureLayer,
                         batch: int = PLACEHOLDER_BATCH) -> FeatureLayerOutput:
    """Zero-valued feature layer output of the right shapes: the backbone runs it once to
    create its layers with the input sizes (EasyRec's Keras layers learn them on first call)."""
    out = FeatureLayerOutput(embedding_l2=tf.constant(0.0),
                             encoded=placeholder_encoded(feature_layer, batch))
    for group, (names, kind) in feature_layer.groups.items():
        if group in feature_layer.text_groups:
            continue
        if kind != WIDE:
            out.deep[group] = [tf.zeros([batch, feature_layer.feature_dim(n)]) for n in names]
        if kind != DEEP:
            out.wide[group] = [tf.zeros([batch, feature_layer.wide_output_dim]) for _ in names]
    for group in feature_layer.sequence_groups:
        query_dim, seq_dim, max_len = feature_layer.sequence_dims(group)
        out.sequence[group] = SequenceGroup(
            query=tf.zeros([batch, query_dim]), sequence=tf.zeros([batch, max_len, seq_dim]),
            mask=tf.ones([batch, max_len], tf.bool), length=tf.fill([batch], max_len))
    return out
