"""SequenceFeature: a behaviour history (e.g. the last clicked item ids) as a delimited string.

`separator` splits the history into elements, oldest first; `seq_multi_sep`, when set, splits
each element into several values (e.g. the genres of one movie), whose embeddings are combined
with `combiner` into the element's embedding. Only the last `max_len` elements are kept.

`sub_feature_type` says what an element is (EasyRec's two kinds):

- IdFeature (default): a categorical value, mapped like an IdFeature (hash_bucket_size,
  num_buckets, vocab_list or vocab_file);
- RawFeature: a number, bucketized by `boundaries` (or by num_buckets equal steps of [0, 1]
  after min-max scaling with min_val / max_val), else projected: x * e over a one-row table
  (with raw_input_dim > 1 and seq_multi_sep, the element's numbers x_k give sum_k x_k e_k).

`sub_value_type` (EasyRec's FieldType) says how the element values are written: INT32 / INT64
elements are integers (parsed, so "007" and "7" are one id; text that is not an integer fails
the batch), FLOAT / DOUBLE elements are numbers and make the elements RawFeature ones (an
explicit `sub_feature_type: IdFeature` with them is refused), STRING / BOOL elements are text
(refused with `sub_feature_type: RawFeature`). Unset, the values are text.

Listed in an ordinary feature group, the history becomes one vector: its `sequence_combiner`
(attention or TextCNN, see sequence_combiner.py), else pooled with `combiner` like a
TagFeature. Named as a hist_seq of a sequence group (`seq_att_groups`, or a feature group's
`sequence_features`), it stays a padded [batch, max_len, dim] sequence with a mask. Sharing an
`embedding_name` with the item feature makes the history and the target item use one table.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature, split_values
from easy_rec.features.categorical import (
    BUCKET_FIELDS,
    CategoricalMapper,
    require_embedding_dim,
    validate_categorical,
)
from easy_rec.features.raw_feature import check_boundaries, raw_boundaries
from easy_rec.features.sequence_combiner import check_sequence_combiner
from easy_rec.protos.dataset_pb2 import DatasetConfig

#: history length when neither max_seq_len nor sequence_length (> 1) is configured
DEFAULT_MAX_LEN = 50
ID, RAW = FeatureConfig.IdFeature, FeatureConfig.RawFeature
#: sub_value_type values of integer, real-number and text elements
INTEGER_TYPES = (DatasetConfig.INT32, DatasetConfig.INT64)
NUMBER_TYPES = (DatasetConfig.FLOAT, DatasetConfig.DOUBLE)
TEXT_TYPES = (DatasetConfig.STRING, DatasetConfig.BOOL)


def element_type(config: FeatureConfig) -> int:
    """The effective sub_feature_type: RawFeature when set so or when sub_value_type names a
    real-number type, else IdFeature (or whatever other type was set, which validation refuses)."""
    if config.HasField("sub_value_type") and config.sub_value_type in NUMBER_TYPES:
        return RAW
    return config.sub_feature_type


def sequence_max_len(config: FeatureConfig) -> int:
    """Elements kept per history: max_seq_len, else sequence_length when > 1, else 50."""
    if config.max_seq_len:
        return int(config.max_seq_len)
    if config.sequence_length > 1:
        return int(config.sequence_length)
    return DEFAULT_MAX_LEN


@register_feature("SequenceFeature")
class SequenceFeature(Feature):
    """History of categorical or numeric elements: ids come out as a ragged [batch, None]
    tensor (or [batch, None, None] with seq_multi_sep, with weights for a projection),
    truncated to the last `max_len` elements."""

    @classmethod
    def validate_config(cls, ctx: CheckContext, config: FeatureConfig, where: str) -> None:
        """IdFeature elements need one bucket field; RawFeature elements need an embedding_dim
        and no hashing or vocabulary."""
        name = feature_name(config)
        if config.HasField("sequence_combiner"):
            check_sequence_combiner(ctx, config.sequence_combiner, f"{where}.sequence_combiner",
                                    name)
        _check_sub_value_type(ctx, config, where, name)
        kind = element_type(config)
        if kind == ID:
            validate_categorical(cls, ctx, config, where)
            return
        if kind != RAW:
            ctx.fail(f"{where}.sub_feature_type", f"SequenceFeature {name!r}: sub_feature_type "
                     "must be IdFeature or RawFeature (as in EasyRec), got "
                     f"{FeatureConfig.FeatureType.Name(config.sub_feature_type)}")
        for field in BUCKET_FIELDS:
            if field != "num_buckets" and (len(config.vocab_list) if field == "vocab_list"
                                           else getattr(config, field)):
                ctx.fail(f"{where}.{field}", f"SequenceFeature {name!r} with sub_feature_type "
                         f"RawFeature takes boundaries (or num_buckets with min_val/max_val), "
                         f"not {field}; use sub_feature_type IdFeature to hash or look up values")
        if config.boundaries:
            check_boundaries(ctx, config, where, f"SequenceFeature {name!r}")
        require_embedding_dim(ctx, config, where, f"SequenceFeature {name!r} with "
                              "sub_feature_type RawFeature (a raw value sequence without an "
                              "embedding is not supported)")

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self.max_len = sequence_max_len(config)
        self._separator = config.separator
        self._multi_sep = config.seq_multi_sep
        self.raw = element_type(config) == RAW
        self._integers = config.HasField("sub_value_type") and config.sub_value_type in INTEGER_TYPES
        self.mapper = None if self.raw else CategoricalMapper(config, base_dir, name="mapper")
        self._boundaries = raw_boundaries(config) if self.raw else []
        self._min_max = (config.min_val, config.max_val) \
            if config.num_buckets > 1 and config.max_val > config.min_val else None
        self._dim = max(int(config.raw_input_dim), 1)

    @property
    def num_ids(self) -> int:
        if not self.raw:
            return self.mapper.num_ids
        return len(self._boundaries) + 1 if self._boundaries else self._dim

    def encode(self, raw: dict[str, tf.Tensor | tf.RaggedTensor]) -> Encoded:
        """Ids of the last max_len elements of each history (a [batch] string column, or a
        [batch, None] list column from Parquet)."""
        values = raw[self.input_names[0]]
        if values.dtype != tf.string:
            values = tf.strings.as_string(values)
        elements = split_values(values, self._separator)[:, -self.max_len:]
        if self._multi_sep:
            parts = split_values(elements.flat_values, self._multi_sep)
            elements = elements.with_flat_values(parts)
        if self.raw:
            return self._encode_numbers(elements)
        flat = elements.flat_values
        if self._integers:
            flat = tf.strings.to_number(flat, tf.int64)
        ids, oov = self.mapper.map(flat)
        return Encoded(ids=elements.with_flat_values(ids), out_of_range=oov)

    def _encode_numbers(self, elements: tf.RaggedTensor) -> Encoded:
        numbers = tf.strings.to_number(elements.flat_values, tf.float32)
        if self._min_max is not None:
            low, high = self._min_max
            numbers = (numbers - low) / (high - low)
        if self._boundaries:
            ids = tf.raw_ops.Bucketize(input=numbers, boundaries=self._boundaries)
            return Encoded(ids=elements.with_flat_values(tf.cast(ids, tf.int64)))
        if elements.ragged_rank == 1:
            positions = tf.zeros_like(numbers, tf.int64)
        else:  # the k-th number of an element weights row k (row 0 past raw_input_dim)
            inner = elements.values
            positions = tf.ragged.range(inner.row_lengths()).flat_values
            positions = tf.where(positions < self._dim, positions, tf.zeros_like(positions))
        return Encoded(ids=elements.with_flat_values(positions),
                       weights=elements.with_flat_values(numbers))


def _check_sub_value_type(ctx: CheckContext, config: FeatureConfig, where: str, name: str) -> None:
    """Real-number elements cannot be ids, text elements cannot be numbers."""
    if not config.HasField("sub_value_type"):
        return
    value_type = DatasetConfig.FieldType.Name(config.sub_value_type)
    if (config.sub_value_type in NUMBER_TYPES and config.HasField("sub_feature_type")
            and config.sub_feature_type == ID):
        ctx.fail(f"{where}.sub_value_type", f"SequenceFeature {name!r}: sub_value_type "
                 f"{value_type} makes the elements numbers (RawFeature); it contradicts "
                 "sub_feature_type: IdFeature (use INT32 / INT64 / STRING ids)")
    if config.sub_value_type in TEXT_TYPES and config.sub_feature_type == RAW:
        ctx.fail(f"{where}.sub_value_type", f"SequenceFeature {name!r}: sub_value_type "
                 f"{value_type} elements are text; sub_feature_type RawFeature needs numbers "
                 "(INT32, INT64, FLOAT or DOUBLE)")
