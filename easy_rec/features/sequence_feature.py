"""SequenceFeature: a behaviour history (e.g. the last clicked item ids) as a delimited string.

`separator` splits the history into elements, oldest first; `seq_multi_sep`, when set, splits
each element into several values (e.g. the genres of one movie), which are averaged into the
element's embedding. Only the last `max_len` elements are kept. Listed in an ordinary feature
group, the history is pooled into one vector with `combiner` (like a TagFeature); named in a
`seq_att_groups` entry, it stays a padded [batch, max_len, dim] sequence with a mask, for
attention and sequence models. Sharing an `embedding_name` with the item feature makes the
history and the target item use one embedding table.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature, split_values
from easy_rec.features.categorical import CategoricalMapper, validate_categorical

#: history length when neither max_seq_len nor sequence_length (> 1) is configured
DEFAULT_MAX_LEN = 50


def sequence_max_len(config: FeatureConfig) -> int:
    """Elements kept per history: max_seq_len, else sequence_length when > 1, else 50."""
    if config.max_seq_len:
        return int(config.max_seq_len)
    if config.sequence_length > 1:
        return int(config.sequence_length)
    return DEFAULT_MAX_LEN


@register_feature("SequenceFeature")
class SequenceFeature(Feature):
    """Categorical history: ids come out as a ragged [batch, None] tensor (or [batch, None,
    None] with seq_multi_sep) truncated to the last `max_len` elements."""

    validate_config = classmethod(validate_categorical)

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self.mapper = CategoricalMapper(config, base_dir, name="mapper")
        self.max_len = sequence_max_len(config)
        self._separator = config.separator
        self._multi_sep = config.seq_multi_sep

    @property
    def num_ids(self) -> int:
        return self.mapper.num_ids

    def encode(self, raw: dict[str, tf.Tensor | tf.RaggedTensor]) -> Encoded:
        """Ids of the last max_len elements of each history (a [batch] string column, or a
        [batch, None] list column from Parquet)."""
        values = raw[self.input_names[0]]
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        elements = split_values(values, self._separator)[:, -self.max_len:]
        if self._multi_sep:
            parts = tf.strings.split(elements.flat_values, self._multi_sep)
            parts = tf.ragged.boolean_mask(parts, tf.not_equal(parts, ""))
            ids, oov = self.mapper.map(parts.flat_values)
            return Encoded(ids=elements.with_flat_values(parts.with_flat_values(ids)),
                           out_of_range=oov)
        ids, oov = self.mapper.map(elements.flat_values)
        return Encoded(ids=elements.with_flat_values(ids), out_of_range=oov)
