"""Multi-value serving inputs (export_config.multi_value_fields / auto_multi_value).

By default the serving signature takes every column as one [batch] tensor of its raw value: a
tag list is the separator-joined string of the input files (``"a|b|c"``). As in EasyRec, a
column named in ``multi_value_fields``, or with ``auto_multi_value: true`` every column that
a feature reads as a list (the first and second input of a TagFeature or SequenceFeature, a
RawFeature with raw_input_dim > 1 that does not aggregate vectors), is instead a [batch, None] tensor of the values, with
EasyRec's types: strings for a tag or sequence feature that hashes or has a vocabulary, int64
for one read by id, float32 for weights and raw vectors. Shorter rows are padded at the end
with "" (strings) or -1 (integers); the model never sees the padding.
"""
from __future__ import annotations

from dataclasses import dataclass

import tensorflow as tf

from easy_rec.config.features import feature_configs
from easy_rec.features.raw_feature import aggregates_vectors
from easy_rec.protos import feature_config_pb2, pipeline_pb2

_FC = feature_config_pb2.FeatureConfig
_LIST_FEATURES = (_FC.TagFeature, _FC.SequenceFeature)


@dataclass(frozen=True)
class ListColumn:
    """A column a feature reads as a list: EasyRec's multi-value dtype and the separator that
    joins the values in the input files."""

    dtype: tf.DType
    separator: str


def list_columns(config: pipeline_pb2.EasyRecConfig) -> dict[str, ListColumn]:
    """Every column a feature reads as a list (the first feature reading it decides)."""
    columns: dict[str, ListColumn] = {}
    for feature in feature_configs(config):
        names, separator = feature.input_names, feature.separator
        if feature.feature_type in _LIST_FEATURES and names:
            hashed = (feature.hash_bucket_size > 0 or len(feature.vocab_list) > 0
                      or feature.HasField("vocab_file"))
            columns.setdefault(names[0], ListColumn(tf.string if hashed else tf.int64, separator))
            if len(names) > 1:
                columns.setdefault(names[1], ListColumn(tf.float32, separator))
        elif (feature.feature_type == _FC.RawFeature and feature.raw_input_dim > 1 and names
              and not aggregates_vectors(feature)):
            columns.setdefault(names[0], ListColumn(tf.float32, separator))
    return columns


def multi_value_columns(config: pipeline_pb2.EasyRecConfig,
                        serving_names: list[str]) -> dict[str, ListColumn]:
    """The serving columns taken as [batch, None] lists (validation checks that each column
    multi_value_fields names is a list column)."""
    listed = list_columns(config)
    export = config.export_config
    names = listed if export.auto_multi_value else export.multi_value_fields.input_name
    return {name: listed[name] for name in names if name in serving_names and name in listed}


def _padding(dtype: tf.DType) -> str | int | None:
    return "" if dtype == tf.string else -1 if dtype.is_integer else None


def to_ragged(features: dict[str, tf.Tensor], names: list[str]
              ) -> dict[str, tf.Tensor | tf.RaggedTensor]:
    """`features` with the [batch, None] columns `names` as RaggedTensors without their end
    padding (float rows are taken whole), the form list columns have in training."""
    converted = dict(features)
    for name in names:
        value = features[name]
        converted[name] = tf.RaggedTensor.from_tensor(value, padding=_padding(value.dtype))
    return converted


def split_joined(values: tf.Tensor, column: ListColumn) -> tf.Tensor:
    """[batch] separator-joined strings (as in the input files) -> the [batch, None] padded
    tensor a multi-value input takes."""
    parts = tf.strings.split(values, column.separator)
    parts = tf.ragged.boolean_mask(parts, tf.not_equal(parts, ""))
    if column.dtype != tf.string:
        parts = tf.strings.to_number(parts, column.dtype)
    padding = _padding(column.dtype)
    return parts.to_tensor(default_value=0 if padding is None else padding)
