"""LookupFeature: the values a map column holds for the example's key (EasyRec's TF-side
LookupFeature, e.g. the user's click count for the item's category).

input_names[0] is the key column, input_names[1] the map column, written
``k1<kv_separator>v1<separator>k2<kv_separator>v2...``. The values whose key equals the
example's key (at most lookup_max_sel_elem_num of them, in map order) are hashed into
hash_bucket_size ids and combined with `combiner`, like the tags of a TagFeature; a key
missing from the map gives a zero vector.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature, split_values
from easy_rec.features.categorical import as_strings, require_embedding_dim


@register_feature("LookupFeature")
class LookupFeature(Feature):
    """Hashed values of a key-value map column selected by a key column."""

    @classmethod
    def validate_config(cls, ctx: CheckContext, config: FeatureConfig, where: str) -> None:
        """Two inputs (key, map), hash_bucket_size, kv_separator and embedding_dim."""
        name = feature_name(config)
        if len(config.input_names) != 2:
            ctx.fail(f"{where}.input_names", f"LookupFeature {name!r} needs 2 input_names (the "
                     f"key column, then the map column), got {len(config.input_names)}")
        if config.hash_bucket_size <= 0:
            ctx.fail(f"{where}.hash_bucket_size", f"LookupFeature {name!r} needs "
                     "hash_bucket_size > 0 (its values are hashed, as in EasyRec)")
        if not config.kv_separator:
            ctx.fail(f"{where}.kv_separator", f"LookupFeature {name!r} needs kv_separator, the "
                     "separator between a key and its value in the map column")
        if config.lookup_max_sel_elem_num < 1:
            ctx.fail(f"{where}.lookup_max_sel_elem_num", f"LookupFeature {name!r}: "
                     f"lookup_max_sel_elem_num must be >= 1, got {config.lookup_max_sel_elem_num}")
        require_embedding_dim(ctx, config, where, f"LookupFeature {name!r}")

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self._buckets = int(config.hash_bucket_size)
        self._separator = config.separator
        self._kv_separator = config.kv_separator
        self._max_values = int(config.lookup_max_sel_elem_num)
        self._precision = int(config.precision)

    @property
    def num_ids(self) -> int:
        return self._buckets

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        keys = tf.reshape(as_strings(raw[self.input_names[0]], self._precision), [-1])
        entries = split_values(tf.reshape(raw[self.input_names[1]], [-1]), self._separator)
        pairs = tf.strings.split(entries.flat_values, self._kv_separator, maxsplit=1)
        pairs = pairs.to_tensor(default_value="", shape=[None, 2])
        wanted = tf.gather(keys, entries.value_rowids())
        selected = tf.ragged.boolean_mask(entries.with_flat_values(pairs[:, 1]),
                                          entries.with_flat_values(tf.equal(pairs[:, 0], wanted)))
        selected = selected[:, :self._max_values]
        ids = tf.strings.to_hash_bucket_fast(selected.flat_values, self._buckets)
        return Encoded(ids=selected.with_flat_values(ids))
