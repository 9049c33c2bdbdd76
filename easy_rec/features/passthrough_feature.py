"""PassThroughFeature: an input column handed to the model as it is.

EasyRec passes such a column through its input pipeline untouched, for components that read
raw inputs (a backbone `raw_input` block). Here a numeric column is a dense
[batch, raw_input_dim] float value (a string column may hold raw_input_dim > 1 numbers joined
by `separator`), with no scaling, bucketing or embedding; a STRING input field with
raw_input_dim 1 stays text: its [batch] strings, which only a raw_input block reads (the
text-matching components and TextEncoder take them).
"""
from __future__ import annotations

from collections.abc import Collection

import tensorflow as tf

from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature
from easy_rec.features.raw_feature import dense_numbers
from easy_rec.protos import dataset_pb2


def string_columns(data_config: dataset_pb2.DatasetConfig) -> set[str]:
    """The STRING input fields of data_config."""
    return {f.input_name for f in data_config.input_fields
            if f.input_type == dataset_pb2.DatasetConfig.STRING}


def reads_strings(config: FeatureConfig, string_columns: Collection[str]) -> bool:
    """Whether a feature is text: a PassThroughFeature with raw_input_dim 1 over a STRING
    input field."""
    return (config.feature_type == FeatureConfig.PassThroughFeature
            and config.raw_input_dim <= 1 and bool(config.input_names)
            and config.input_names[0] in string_columns)


@register_feature("PassThroughFeature")
class PassThroughFeature(Feature):
    """The input column's numbers, unchanged: [batch, raw_input_dim] float32; or its strings,
    [batch], when `read_types` says the column is a STRING field and raw_input_dim is 1."""

    categorical = False

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self._dim = max(int(config.raw_input_dim), 1)
        self._separator = config.separator

    def read_types(self, string_columns: Collection[str]) -> None:
        self.text = reads_strings(self.config, string_columns)

    @property
    def dense_dim(self) -> int:
        return self._dim

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        column = raw[self.input_names[0]]
        if self.text:
            return Encoded(text=tf.reshape(column, [-1]))
        return Encoded(dense=dense_numbers(column, self._separator, self._dim))
