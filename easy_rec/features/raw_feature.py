"""RawFeature: numeric values used as they are, normalised, or bucketized into an embedding."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature, split_values
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


def normalizer(name: str):
    """Normalizer function by name; accepts the spellings in RAW_NORMALIZERS ('tf.math.log1p')."""
    key = RAW_NORMALIZERS.get(name.strip())
    if key not in NORMALIZERS:
        raise ValueError(f"unknown normalizer_fn {name!r}; known: {', '.join(sorted(NORMALIZERS))}")
    return NORMALIZERS[key]


@register_feature("RawFeature")
class RawFeature(Feature):
    """Dense value of width raw_input_dim; with `boundaries` it becomes a bucket id."""

    @classmethod
    def validate_config(cls, ctx: CheckContext, config: FeatureConfig, where: str) -> None:
        """A known normalizer_fn, min_val <= max_val, and with boundaries an embedding_dim
        and strictly increasing bounds."""
        if config.normalizer_fn not in RAW_NORMALIZERS:
            known = ", ".join(repr(k) for k in RAW_NORMALIZERS if k)
            ctx.fail(f"{where}.normalizer_fn", f"unknown normalizer_fn "
                     f"{config.normalizer_fn!r}; supported: {known}")
        if config.max_val < config.min_val:
            ctx.fail(f"{where}.max_val", f"max_val {config.max_val} is below min_val "
                     f"{config.min_val}")
        if not config.boundaries:
            return
        require_embedding_dim(ctx, config, where, f"RawFeature {feature_name(config)!r} "
                              "with boundaries")
        bounds = list(config.boundaries)
        for k in range(1, len(bounds)):
            if bounds[k] <= bounds[k - 1]:
                ctx.fail(f"{where}.boundaries[{k}]", f"boundaries must be strictly "
                         f"increasing; {bounds[k]} follows {bounds[k - 1]}")

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self._dim = max(int(config.raw_input_dim), 1)
        self._boundaries = [float(b) for b in config.boundaries]
        self.categorical = bool(self._boundaries)
        if self.categorical and self._dim != 1:
            raise ValueError(f"RawFeature {self.name_}: boundaries need raw_input_dim 1")
        self._normalize = normalizer(config.normalizer_fn) if config.normalizer_fn else None
        self._min_max = (config.min_val, config.max_val) if config.max_val > config.min_val else None
        self._separator = config.separator

    @property
    def num_ids(self) -> int:
        return len(self._boundaries) + 1

    @property
    def dense_dim(self) -> int:
        return self._dim

    def values(self, raw: dict[str, tf.Tensor]) -> tf.Tensor:
        """[batch, raw_input_dim] float32 after normalisation."""
        column = raw[self.input_names[0]]
        if column.dtype == tf.string:
            parts = split_values(column, self._separator)
            numbers = tf.strings.to_number(parts, tf.float32)
            x = numbers.to_tensor(0.0, shape=[None, self._dim])
        else:
            x = tf.reshape(tf.cast(column, tf.float32), [-1, 1])
        if self._normalize is not None:
            x = self._normalize(x)
        if self._min_max is not None:
            low, high = self._min_max
            x = (x - low) / (high - low)
        return x

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        x = self.values(raw)
        if self.categorical:
            ids = tf.raw_ops.Bucketize(input=x[:, 0], boundaries=self._boundaries)
            return Encoded(ids=tf.cast(ids, tf.int64))
        return Encoded(dense=x)
