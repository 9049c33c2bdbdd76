"""Feature base class and the registry of feature types (IdFeature, RawFeature, ...).

A feature type is one module in this package that registers its class with
`@register_feature("<FeatureConfig.FeatureType name>")`; the package imports every module, so
the registry (and with it config validation) knows every type without a central list.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable, Collection
from dataclasses import dataclass
from typing import TypeVar

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.protos import feature_config_pb2

FeatureConfig = feature_config_pb2.FeatureConfig

_FEATURE_TYPES: dict[str, type[Feature]] = {}
T = TypeVar("T", bound=type)

#: FeatureConfig.combiner values the feature layer implements
COMBINERS = ("sum", "mean", "sqrtn")


def register_feature(feature_type: str) -> Callable[[T], T]:
    """Class decorator registering a Feature implementation for a FeatureConfig.FeatureType name."""

    def wrap(cls: T) -> T:
        _FEATURE_TYPES[feature_type] = cls
        return cls

    return wrap


def _load_feature_types() -> None:
    """Imports every module of this package, so that each registers its feature type."""
    package = importlib.import_module("easy_rec.features")
    for module in pkgutil.iter_modules(package.__path__):
        importlib.import_module(f"easy_rec.features.{module.name}")


def registered_feature_types() -> list[str]:
    """FeatureType names with an implementation, in registration order."""
    _load_feature_types()
    return list(_FEATURE_TYPES)


def feature_class(type_name: str) -> type[Feature]:
    """The class registered for FeatureType `type_name`; KeyError names the known ones."""
    _load_feature_types()
    if type_name not in _FEATURE_TYPES:
        raise KeyError(f"feature type {type_name} is not supported yet; supported: "
                       f"{', '.join(_FEATURE_TYPES)}")
    return _FEATURE_TYPES[type_name]


def feature_type_name(config: FeatureConfig) -> str:
    """The FeatureType name of a feature config, e.g. 'IdFeature'."""
    return FeatureConfig.FeatureType.Name(config.feature_type)


def build_feature(config: FeatureConfig, base_dir: str | None = None) -> Feature:
    """Feature object for one feature config."""
    try:
        cls = feature_class(feature_type_name(config))
    except KeyError as error:
        raise ValueError(error.args[0]) from None
    return cls(config, base_dir)


@dataclass
class Encoded:
    """A feature's value for a batch.

    Categorical features set `ids` ([batch] int64, or a RaggedTensor [batch, None] with optional
    `weights`); dense features set `dense` ([batch, dim] float32); text features (a
    PassThroughFeature over a STRING column) set `text` ([batch] string, the column as it is).
    `out_of_range` counts identity ids that were mapped to 0.
    """

    ids: tf.Tensor | tf.RaggedTensor | None = None
    weights: tf.RaggedTensor | None = None
    dense: tf.Tensor | None = None
    text: tf.Tensor | None = None
    out_of_range: tf.Tensor | None = None


class Feature(tf.Module):
    """Transforms raw input columns into ids or dense values, with TensorFlow ops only."""

    categorical: bool = True
    #: True when the value is the raw string column, which only a backbone raw_input reads
    text: bool = False

    @classmethod
    def validate_config(cls, ctx: CheckContext, config: FeatureConfig, where: str) -> None:
        """Checks the fields this feature type reads (`where` is the feature's field path);
        reports through `ctx.fail`. The base class checks nothing."""

    @classmethod
    def allowed_combiners(cls, config: FeatureConfig) -> tuple[str, ...]:  # noqa: ARG003
        """The `combiner` values this feature accepts (the embedding combiners by default)."""
        return COMBINERS

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(name=scope_name(feature_name(config)))
        self.config = config
        self.name_ = feature_name(config)
        self.input_names = list(config.input_names)
        self.embedding_dim = int(config.embedding_dim)
        self.combiner = config.combiner

    def read_types(self, string_columns: Collection[str]) -> None:
        """Told which input columns are STRING fields (a PassThroughFeature over one is
        text); nothing by default."""

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
