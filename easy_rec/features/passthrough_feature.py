"""PassThroughFeature: a numeric input column handed to the model as it is.

EasyRec passes such a column through its input pipeline untouched, for components that read
raw inputs. Here it is a dense [batch, raw_input_dim] float value (a string column holds
raw_input_dim numbers joined by `separator`), with no scaling, bucketing or embedding.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature
from easy_rec.features.raw_feature import dense_numbers


@register_feature("PassThroughFeature")
class PassThroughFeature(Feature):
    """The input column's numbers, unchanged: [batch, raw_input_dim] float32."""

    categorical = False

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self._dim = max(int(config.raw_input_dim), 1)
        self._separator = config.separator

    @property
    def dense_dim(self) -> int:
        return self._dim

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        return Encoded(dense=dense_numbers(raw[self.input_names[0]], self._separator, self._dim))
