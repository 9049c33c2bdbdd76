"""TagFeature: a variable number of (optionally weighted) categorical values per example."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature, split_values
from easy_rec.features.categorical import CategoricalMapper, validate_categorical


@register_feature("TagFeature")
class TagFeature(Feature):
    """Tags separated by `separator`; weights from a second input or 'tag<kv_separator>weight'."""

    validate_config = classmethod(validate_categorical)

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self.mapper = CategoricalMapper(config, base_dir, name="mapper")
        self._separator = config.separator
        self._kv_separator = config.kv_separator

    @property
    def num_ids(self) -> int:
        return self.mapper.num_ids

    def encode(self, raw: dict[str, tf.Tensor | tf.RaggedTensor]) -> Encoded:
        """Tags of a [batch] string column joined by `separator`, or of a [batch, None] ragged
        list column (Parquet); both forms of the same tags give the same ids and weights."""
        values = raw[self.input_names[0]]
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        tags = split_values(values, self._separator)
        weights = None
        if self._kv_separator:
            pairs = tf.strings.split(tags.flat_values, self._kv_separator, maxsplit=1)
            pairs = pairs.to_tensor(default_value="1", shape=[None, 2])
            tags = tags.with_flat_values(pairs[:, 0])
            weights = tags.with_flat_values(tf.strings.to_number(pairs[:, 1], tf.float32))
        elif len(self.input_names) > 1:
            weights = self._weights_column(raw[self.input_names[1]], tags)
        ids, oov = self.mapper.map(tags.flat_values)
        return Encoded(ids=tags.with_flat_values(ids), weights=weights, out_of_range=oov)

    def _weights_column(self, column: tf.Tensor | tf.RaggedTensor,
                        tags: tf.RaggedTensor) -> tf.RaggedTensor:
        """Weights given as a parallel separated string (or list) column; must align with the
        tags. A plain numeric column weights every tag of its row alike."""
        if column.dtype != tf.string and not isinstance(column, tf.RaggedTensor):
            return tags.with_flat_values(
                tf.gather(tf.cast(column, tf.float32), tags.value_rowids()))
        weights = split_values(column, self._separator)
        tf.debugging.assert_equal(
            weights.row_lengths(), tags.row_lengths(),
            message=f"TagFeature {self.name_}: tag and weight counts differ")
        values = weights.flat_values
        values = tf.strings.to_number(values, tf.float32) if values.dtype == tf.string \
            else tf.cast(values, tf.float32)
        return tags.with_flat_values(values)
