"""RawFeature: numeric values used as they are, normalised, bucketized or projected into an
embedding, as EasyRec does:

- the value (or `raw_input_dim` values joined by `separator`) is min-max scaled to [0, 1]
  when max_val > min_val, then passed through `normalizer_fn`;
- several vectors joined by `seq_multi_sep` (with an explicit `combiner` of min, max, mean or
  sum) are aggregated into one, element-wise;
- with `boundaries` it becomes a bucket id (an embedding of len(boundaries) + 1 rows); with
  num_buckets > 1 and max_val > min_val, the buckets are num_buckets equal steps of [0, 1];
- else with embedding_dim it is projected: sum_k x_k e_k over a table of raw_input_dim rows
  (combined with `combiner`, like a weighted TagFeature whose tags are the positions k);
- else it is a dense value of width raw_input_dim.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.features.base import (
    COMBINERS,
    Encoded,
    Feature,
    FeatureConfig,
    register_feature,
    split_values,
)
from easy_rec.features.categorical import require_embedding_dim

# RawFeature.normalizer_fn spellings -> canonical name ('' means no normalizer).
RAW_NORMALIZERS: dict[str, str] = {
    "": "",
    "log1p": "log1p", "tf.math.log1p": "log1p", "tf.log1p": "log1p",
    "sqrt": "sqrt", "tf.math.sqrt": "sqrt", "tf.sqrt": "sqrt",
    "log10": "log10", "tf.math.log10": "log10",
    "log": "log", "tf.math.log": "log", "tf.log": "log",
}
NORMALIZERS = {
    "log1p": tf.math.log1p,
    "sqrt": tf.sqrt,
    "log10": lambda x: tf.math.log(x) / tf.math.log(10.0),
    "log": tf.math.log,
}
#: how the vectors of a seq_multi_sep RawFeature are aggregated
AGGREGATIONS = {"min": tf.math.segment_min, "max": tf.math.segment_max,
                "mean": tf.math.segment_mean, "sum": tf.math.segment_sum}


def normalizer(name: str):
    """Normalizer function by name; accepts the spellings in RAW_NORMALIZERS ('tf.math.log1p')."""
    key = RAW_NORMALIZERS.get(name.strip())
    if key not in NORMALIZERS:
        raise ValueError(f"unknown normalizer_fn {name!r}; known: {', '.join(sorted(NORMALIZERS))}")
    return NORMALIZERS[key]


def raw_boundaries(config: FeatureConfig) -> list[float]:
    """Bucket boundaries of a numeric feature: `boundaries`, else num_buckets equal steps of
    [0, 1] when num_buckets > 1 and max_val > min_val (values are min-max scaled), else none."""
    if config.boundaries:
        return [float(b) for b in config.boundaries]
    if config.num_buckets > 1 and config.max_val > config.min_val:
        return [i / config.num_buckets for i in range(config.num_buckets)]
    return []


def aggregates_vectors(config: FeatureConfig) -> bool:
    """True when a RawFeature aggregates several seq_multi_sep vectors (EasyRec needs both
    seq_multi_sep and an explicitly written combiner)."""
    return bool(config.seq_multi_sep) and config.HasField("combiner")


def check_boundaries(ctx: CheckContext, config: FeatureConfig, where: str, what: str) -> None:
    """Boundaries need an embedding_dim and must be strictly increasing."""
    require_embedding_dim(ctx, config, where, f"{what} with boundaries")
    bounds = list(config.boundaries)
    for k in range(1, len(bounds)):
        if bounds[k] <= bounds[k - 1]:
            ctx.fail(f"{where}.boundaries[{k}]", f"boundaries must be strictly "
                     f"increasing; {bounds[k]} follows {bounds[k - 1]}")


@register_feature("RawFeature")
class RawFeature(Feature):
    """Dense value of width raw_input_dim, a bucket id (boundaries) or a projection
    (embedding_dim without boundaries); see the module docstring."""

    @classmethod
    def allowed_combiners(cls, config: FeatureConfig) -> tuple[str, ...]:
        """min / max / mean / sum aggregate seq_multi_sep vectors; else the embedding combiners."""
        return tuple(AGGREGATIONS) if aggregates_vectors(config) else COMBINERS

    @classmethod
    def validate_config(cls, ctx: CheckContext, config: FeatureConfig, where: str) -> None:
        """A known normalizer_fn, min_val <= max_val, boundaries with an embedding_dim and
        strictly increasing; a projection's combiner is an embedding combiner."""
        name = feature_name(config)
        if config.normalizer_fn not in RAW_NORMALIZERS:
            known = ", ".join(repr(k) for k in RAW_NORMALIZERS if k)
            ctx.fail(f"{where}.normalizer_fn", f"unknown normalizer_fn "
                     f"{config.normalizer_fn!r}; supported: {known}")
        if config.max_val < config.min_val:
            ctx.fail(f"{where}.max_val", f"max_val {config.max_val} is below min_val "
                     f"{config.min_val}")
        if config.boundaries:
            check_boundaries(ctx, config, where, f"RawFeature {name!r}")
        projected = config.embedding_dim > 0 and not raw_boundaries(config)
        if projected and config.combiner not in COMBINERS:
            ctx.fail(f"{where}.combiner", f"RawFeature {name!r} with embedding_dim is projected "
                     f"into an embedding combined with {'/'.join(COMBINERS)}; combiner "
                     f"{config.combiner!r} only aggregates seq_multi_sep vectors of a dense "
                     "RawFeature")
        if raw_boundaries(config) and config.raw_input_dim > 1:
            ctx.fail(f"{where}.raw_input_dim", f"RawFeature {name!r}: bucketizing needs "
                     f"raw_input_dim 1, got {config.raw_input_dim}")

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self._dim = max(int(config.raw_input_dim), 1)
        self._boundaries = raw_boundaries(config)
        self._projected = not self._boundaries and self.embedding_dim > 0
        self.categorical = bool(self._boundaries) or self._projected
        if self._boundaries and self._dim != 1:
            raise ValueError(f"RawFeature {self.name_}: boundaries need raw_input_dim 1")
        self._normalize = normalizer(config.normalizer_fn) if config.normalizer_fn else None
        self._min_max = (config.min_val, config.max_val) if config.max_val > config.min_val else None
        self._separator = config.separator
        self._aggregate = (config.seq_multi_sep, AGGREGATIONS[config.combiner]) \
            if aggregates_vectors(config) else None

    @property
    def num_ids(self) -> int:
        return len(self._boundaries) + 1 if self._boundaries else self._dim

    @property
    def dense_dim(self) -> int:
        return self._dim

    def values(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        """[batch, raw_input_dim] float32 after aggregation and normalisation."""
        column = raw[self.input_names[0]]
        if column.dtype == tf.string and self._aggregate is not None:
            x = self._aggregated(column)
        else:
            x = dense_numbers(column, self._separator, self._dim)
        return scale(x, self._min_max, self._normalize)

    def _aggregated(self, column: tf.Tensor) -> tf.Tensor:
        """Vectors joined by seq_multi_sep, aggregated element-wise; an empty cell gives 0."""
        separator, aggregate = self._aggregate
        vectors = split_values(column, separator)
        x = dense_numbers(vectors.flat_values, self._separator, self._dim)
        rows = tf.cast(vectors.value_rowids(), tf.int32)
        combined = aggregate(x, rows)
        return tf.scatter_nd(tf.range(tf.shape(combined)[0])[:, None], combined,
                             [tf.shape(column)[0], self._dim])

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        x = self.values(raw)
        if self._boundaries:
            ids = tf.raw_ops.Bucketize(input=x[:, 0], boundaries=self._boundaries)
            return Encoded(ids=tf.cast(ids, tf.int64))
        if self._projected:
            positions = tf.tile(tf.range(self._dim, dtype=tf.int64)[None], [tf.shape(x)[0], 1])
            return Encoded(ids=tf.RaggedTensor.from_tensor(positions),
                           weights=tf.RaggedTensor.from_tensor(x))
        return Encoded(dense=x)


def dense_numbers(column: tf.Tensor, separator: str, dim: int) -> tf.Tensor:
    """[batch, dim] float32 of a numeric column, of a list column (Parquet), or of a string
    column holding `dim` numbers joined by `separator` (missing ones are 0)."""
    if column.dtype == tf.string:
        column = tf.strings.to_number(split_values(column, separator), tf.float32)
    if isinstance(column, tf.RaggedTensor):
        return tf.cast(column, tf.float32).to_tensor(0.0, shape=[None, dim])
    return tf.reshape(tf.cast(column, tf.float32), [-1, dim])


def scale(x: tf.Tensor, min_max: tuple[float, float] | None, normalize) -> tf.Tensor:
    """EasyRec's order: min-max scaling to [0, 1] first, then the normalizer function."""
    if min_max is not None:
        low, high = min_max
        x = (x - low) / (high - low)
    return normalize(x) if normalize is not None else x
