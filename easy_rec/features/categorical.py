"""Mapping raw categorical values to embedding row ids: hash, identity or vocabulary."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.config.resources import config_file_candidates, resolve_config_file
from easy_rec.protos import feature_config_pb2

_INT_PATTERN = r"\s*[-+]?\d+\s*"


def as_strings(values: tf.Tensor, precision: int = -1) -> tf.Tensor:
    """String form of raw values (numbers formatted as EasyRec does before hashing); floats
    keep `precision` digits after the point when it is > 0 (FeatureConfig.precision)."""
    if values.dtype == tf.string:
        return values
    if values.dtype == tf.bool:
        return tf.where(values, "1", "0")
    if values.dtype.is_floating and precision > 0:
        return tf.strings.as_string(values, precision=precision)
    return tf.strings.as_string(values)


#: the fields that size a categorical feature's id space; exactly one must be set
BUCKET_FIELDS = ("hash_bucket_size", "num_buckets", "vocab_list", "vocab_file")


def validate_categorical(cls: type, ctx: CheckContext, config: feature_config_pb2.FeatureConfig,
                         where: str) -> None:
    """`validate_config` of the features that map values through a CategoricalMapper: exactly
    one of BUCKET_FIELDS, an embedding_dim, and a vocab_file that exists."""
    type_name = cls.__name__
    used = [f for f in BUCKET_FIELDS if (len(config.vocab_list) > 0 if f == "vocab_list"
                                         else bool(getattr(config, f)))]
    if len(used) != 1:
        found = f"found {', '.join(used)}" if used else "none is set"
        ctx.fail(where if not used else f"{where}.{used[-1]}",
                 f"{type_name} {feature_name(config)!r} needs exactly one of "
                 f"{', '.join(BUCKET_FIELDS)}; {found}")
    require_embedding_dim(ctx, config, where, f"{type_name} {feature_name(config)!r}")
    if config.vocab_file and resolve_config_file(config.vocab_file, ctx.base_dir) is None:
        tried = ", ".join(config_file_candidates(config.vocab_file, ctx.base_dir))
        ctx.fail(f"{where}.vocab_file", f"vocab_file {config.vocab_file!r} not found "
                 f"(looked at: {tried})")


def require_embedding_dim(ctx: CheckContext, config: feature_config_pb2.FeatureConfig,
                          where: str, what: str) -> None:
    """Fails unless `config` has a positive embedding_dim (`what` names the feature)."""
    if config.embedding_dim <= 0:
        ctx.fail(f"{where}.embedding_dim", f"{what} needs embedding_dim > 0, got "
                 f"{config.embedding_dim}")


class CategoricalMapper(tf.Module):
    """Turns raw values (any dtype) into int64 ids in [0, num_ids).

    One of: hash_bucket_size (fingerprint hash of the string form), num_buckets (identity;
    ids outside [0, num_buckets) map to 0 and are counted), vocab_list / vocab_file (position
    in the vocabulary; unknown values map to 0, or hash into num_oov_buckets extra ids).
    """

    def __init__(self, config: feature_config_pb2.FeatureConfig, base_dir: str | None = None,
                 name: str | None = None):
        super().__init__(name=name)
        self.hash_bucket_size = int(config.hash_bucket_size)
        self.num_buckets = int(config.num_buckets)
        self.precision = int(config.precision)
        self.vocab_table = None
        self.vocab_asset = None
        if config.vocab_list or config.vocab_file:
            self._build_vocab(config, base_dir)
        elif not (self.hash_bucket_size or self.num_buckets):
            raise ValueError(
                f"feature {config.feature_name or config.input_names[0]!r} needs hash_bucket_size, "
                "num_buckets, vocab_list or vocab_file")

    def _build_vocab(self, config: feature_config_pb2.FeatureConfig, base_dir: str | None) -> None:
        oov = int(config.num_oov_buckets)
        if config.vocab_file:
            path = resolve_config_file(config.vocab_file, base_dir) or config.vocab_file
            with open(path, encoding="utf-8") as f:
                vocab_size = sum(1 for _ in f)
            self.vocab_asset = tf.saved_model.Asset(path)
            initializer = tf.lookup.TextFileInitializer(
                self.vocab_asset.asset_path, tf.string, tf.lookup.TextFileIndex.WHOLE_LINE,
                tf.int64, tf.lookup.TextFileIndex.LINE_NUMBER)
        else:
            keys = list(config.vocab_list)
            vocab_size = len(keys)
            initializer = tf.lookup.KeyValueTensorInitializer(
                tf.constant(keys), tf.range(vocab_size, dtype=tf.int64))
        if oov:
            self.vocab_table = tf.lookup.StaticVocabularyTable(initializer, oov)
        else:
            self.vocab_table = tf.lookup.StaticHashTable(initializer, default_value=0)
        self.vocab_size = vocab_size + oov

    @property
    def num_ids(self) -> int:
        """Rows the embedding table needs."""
        if self.vocab_table is not None:
            return self.vocab_size
        return self.hash_bucket_size or self.num_buckets

    def map(self, values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """(ids int64, number of values outside the identity range) for a tensor of raw values."""
        no_oov = tf.constant(0, tf.int64)
        if self.vocab_table is not None:
            return self.vocab_table.lookup(as_strings(values, self.precision)), no_oov
        if self.hash_bucket_size:
            return tf.strings.to_hash_bucket_fast(as_strings(values, self.precision),
                                                  self.hash_bucket_size), no_oov
        return self._identity(values)

    def _identity(self, values: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if values.dtype == tf.string:
            numeric = tf.strings.regex_full_match(values, _INT_PATTERN)
            parsed = tf.strings.to_number(tf.where(numeric, values, "-1"), tf.int64)
        else:
            parsed = tf.cast(values, tf.int64)
        in_range = tf.logical_and(parsed >= 0, parsed < self.num_buckets)
        ids = tf.where(in_range, parsed, tf.zeros_like(parsed))
        return ids, tf.size(in_range, out_type=tf.int64) - tf.math.count_nonzero(in_range)
