"""raw_input and embedding_layer blocks: a feature group's values before embedding.

`raw_input {}` gives the list of the group's feature values as the feature layer encodes
them, before any embedding: a text feature's [batch] strings (a PassThroughFeature over a
STRING column, as in EasyRec, whose raw_input gives the input columns), a dense feature's
[batch, dim] floats (a RawFeature after its min_val / max_val scaling), a categorical
feature's [batch] int64 ids (hashed, looked up or bucketed; EasyRec gives the raw column).
Multi-valued categorical features have no fixed-shape value and are refused there.

`embedding_layer { embedding_dim combiner concat }` embeds the ids of the group's categorical
features in one table shared by them (easy_rec.layers.fused_embedding, EasyRec's
EmbeddingLayer): feature k's ids are offset by the id counts of the features before it, and
the table has the total count of rows (EasyRec sets vocab_size so; a vocab_size in the config
is replaced, as there).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.base import Encoded, Feature
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.fused_embedding import COMBINERS, FusedEmbedding
from easy_rec.models.backbone.spec import BackboneError, BlockSpec
from easy_rec.protos import backbone_pb2


def _features_of(feature_layer: FeatureLayer, spec: BlockSpec) -> list[str]:
    if spec.group not in feature_layer.groups:
        raise BackboneError(f"{spec.path}.inputs[0].feature_group_name",
                            f"a {spec.kind} block reads a feature group (feature_groups); "
                            f"{spec.group!r} is a seq_att_groups entry")
    return list(feature_layer.groups[spec.group][0])


def check_embedding_layer(config: backbone_pb2.EmbeddingLayer, where: str) -> None:
    """BackboneError for an embedding_layer without embedding_dim or with an unknown combiner."""
    if config.embedding_dim < 1:
        raise BackboneError(f"{where}.embedding_dim", "embedding_layer needs embedding_dim")
    if config.combiner not in COMBINERS:
        raise BackboneError(f"{where}.combiner", f"combiner must be one of "
                            f"{', '.join(COMBINERS)}, got {config.combiner!r}")


class RawGroupInput(tf.Module):
    """raw_input: the list of the group's feature values (strings, ids or dense floats)."""

    def __init__(self, feature_layer: FeatureLayer, spec: BlockSpec, name: str):
        super().__init__(name=name)
        self.path = spec.path
        self.names = _features_of(feature_layer, spec)

    def __call__(self, features: FeatureLayerOutput, training: bool  # noqa: ARG002
                 ) -> list[tf.Tensor]:
        values = []
        for name in self.names:
            value: Encoded = features.encoded[name]
            if value.text is not None:
                values.append(value.text)
            elif value.dense is not None:
                values.append(value.dense)
            elif isinstance(value.ids, tf.RaggedTensor):
                raise BackboneError(f"{self.path}.raw_input", f"feature {name!r} has several "
                                    "values per example, which have no fixed-shape raw value; "
                                    "read it with input_layer or embedding_layer")
            else:
                values.append(value.ids)
        return values


class EmbeddingGroupInput(tf.Module):
    """embedding_layer: the group's categorical features embedded by one shared table."""

    def __init__(self, feature_layer: FeatureLayer, spec: BlockSpec, name: str):
        super().__init__(name=name)
        config = spec.config.embedding_layer
        where = f"{spec.path}.embedding_layer"
        self.names = _features_of(feature_layer, spec)
        dense = [n for n in self.names if not feature_layer.features[n].categorical]
        if dense:
            raise BackboneError(f"{spec.path}.inputs[0].feature_group_name", f"embedding_layer "
                                f"embeds ids; {', '.join(dense)} of group {spec.group!r} "
                                "have dense values")
        check_embedding_layer(config, where)
        counts = [feature_layer.features[n].num_ids for n in self.names]
        self.offsets = [sum(counts[:i]) for i in range(len(counts))]
        with self.name_scope:
            self.embedding = FusedEmbedding(sum(counts), config.embedding_dim, config.combiner,
                                            config.concat, name="embedding_layer")

    def __call__(self, features: FeatureLayerOutput, training: bool
                 ) -> tf.Tensor | list[tf.Tensor]:
        values = [features.encoded[n] for n in self.names]
        ids = [v.ids + offset for v, offset in zip(values, self.offsets)]
        return self.embedding((ids, [v.weights for v in values]), training)


def placeholder_encoded(feature_layer: FeatureLayer, batch: int) -> dict[str, Encoded]:
    """Zero-valued encoded features of the right shapes (single ids for categorical ones,
    empty strings for text ones)."""
    def placeholder(feature: Feature) -> Encoded:
        if feature.text:
            return Encoded(text=tf.fill([batch], ""))
        if feature.categorical:
            return Encoded(ids=tf.zeros([batch], tf.int64))
        return Encoded(dense=tf.zeros([batch, feature.dense_dim]))
    return {name: placeholder(feature) for name, feature in feature_layer.features.items()}
