"""Feature base class and the registry of feature types (IdFeature, RawFeature, ...)."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TypeVar

import tensorflow as tf

from easy_rec.protos import feature_config_pb2

FeatureConfig = feature_config_pb2.FeatureConfig

_FEATURE_TYPES: dict[str, type[Feature]] = {}
T = TypeVar("T", bound=type)


def register_feature(feature_type: str) -> Callable[[T], T]:
    """Class decorator registering a Feature implementation for a FeatureConfig.FeatureType name."""

    def wrap(cls: T) -> T:
        _FEATURE_TYPES[feature_type] = cls
        return cls

    return wrap


def build_feature(config: FeatureConfig, base_dir: str | None = None) -> Feature:
    """Feature object for one feature config."""
    from easy_rec.features import (  # noqa: F401
        combo_feature,
        id_feature,
        raw_feature,
        sequence_feature,
        tag_feature,
    )

    type_name = FeatureConfig.FeatureType.Name(config.feature_type)
    if type_name not in _FEATURE_TYPES:
        raise ValueError(f"feature type {type_name} is not supported yet; supported: "
                         f"{', '.join(sorted(_FEATURE_TYPES))}")
    return _FEATURE_TYPES[type_name](config, base_dir)


def feature_name(config: FeatureConfig) -> str:
    """A feature's name: feature_name, else its first input name."""
    return config.feature_name or config.input_names[0]


@dataclass
class Encoded:
    """A feature's value for a batch.

    Categorical features set `ids` ([batch] int64, or a RaggedTensor [batch, None] with optional
    `weights`); dense features set `dense` ([batch, dim] float32). `out_of_range` counts
    identity ids that were mapped to 0.
    """

    ids: tf.Tensor | tf.RaggedTensor | None = None
    weights: tf.RaggedTensor | None = None
    dense: tf.Tensor | None = None
    out_of_range: tf.Tensor | None = None


class Feature(tf.Module):
    """Transforms raw input columns into ids or dense values, with TensorFlow ops only."""

    categorical: bool = True

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(name=scope_name(feature_name(config)))
        self.config = config
        self.name_ = feature_name(config)
        self.input_names = list(config.input_names)
        self.embedding_dim = int(config.embedding_dim)
        self.combiner = config.combiner

    @property
    def table_name(self) -> str:
        """Embedding table key; features with the same embedding_name share one table."""
        return self.config.embedding_name or self.name_

    @property
    def num_ids(self) -> int:
        """Rows of this feature's embedding table (categorical features)."""
        raise NotImplementedError

    @property
    def dense_dim(self) -> int:
        """Width of the dense value (dense features)."""
        raise NotImplementedError

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        """Value of this feature for a batch of raw columns."""
        raise NotImplementedError


def scope_name(name: str) -> str:
    """`name` made a valid module / variable scope name."""
    cleaned = "".join(ch if ch.isalnum() or ch == "_" else "_" for ch in name)
    return cleaned if cleaned and cleaned[0].isalpha() else f"f_{cleaned}"


def split_values(values: tf.Tensor | tf.RaggedTensor, separator: str) -> tf.RaggedTensor:
    """Splits a [batch] string tensor on `separator`, dropping empty tokens.

    A [batch, None] RaggedTensor (a list column, e.g. from Parquet) is already split: only its
    empty string tokens are dropped, so both forms of the same values give the same tokens.
    """
    tokens = values if isinstance(values, tf.RaggedTensor) else tf.strings.split(values, separator)
    if tokens.dtype != tf.string:
        return tokens
    return tf.ragged.boolean_mask(tokens, tf.not_equal(tokens, ""))
