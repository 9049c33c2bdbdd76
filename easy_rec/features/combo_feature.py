"""ComboFeature: hashed cross of two or more input columns."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature
from easy_rec.features.categorical import as_strings, require_embedding_dim


@register_feature("ComboFeature")
class ComboFeature(Feature):
    """Crosses its inputs (every combination when inputs are multi-valued) into hash buckets.

    With combo_join_sep the single-valued inputs are joined by that string and hashed, as in
    EasyRec; otherwise the cross is TensorFlow's hashed sparse cross.
    """

    @classmethod
    def validate_config(cls, ctx: CheckContext, config: FeatureConfig, where: str) -> None:
        """At least two inputs, hash_bucket_size and embedding_dim."""
        name = feature_name(config)
        if len(config.input_names) < 2:
            ctx.fail(f"{where}.input_names", f"ComboFeature {name!r} needs at least 2 "
                     f"input_names, got {len(config.input_names)}")
        if config.hash_bucket_size <= 0:
            ctx.fail(f"{where}.hash_bucket_size", f"ComboFeature {name!r} needs "
                     "hash_bucket_size > 0")
        require_embedding_dim(ctx, config, where, f"ComboFeature {name!r}")

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self._buckets = int(config.hash_bucket_size)
        if len(self.input_names) < 2 or not self._buckets:
            raise ValueError(f"ComboFeature {self.name_} needs >= 2 input_names and hash_bucket_size")
        seps = list(config.combo_input_seps)
        self._input_seps = seps if len(seps) > 1 else seps * len(self.input_names)
        self._join_sep = config.combo_join_sep

    @property
    def num_ids(self) -> int:
        return self._buckets

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        columns = [as_strings(raw[name]) for name in self.input_names]
        if self._join_sep and not self._input_seps:
            joined = tf.strings.join(columns, separator=self._join_sep)
            return Encoded(ids=tf.strings.to_hash_bucket_fast(joined, self._buckets))
        sparse_inputs = []
        for i, column in enumerate(columns):
            sep = self._input_seps[i] if self._input_seps else ""
            if sep:
                tokens = tf.strings.split(column, sep)
                sparse_inputs.append(tf.ragged.boolean_mask(tokens, tokens != "").to_sparse())
            else:
                sparse_inputs.append(tf.reshape(column, [-1, 1]))
        crossed = tf.sparse.cross_hashed(sparse_inputs, num_buckets=self._buckets)
        return Encoded(ids=tf.RaggedTensor.from_sparse(crossed))
