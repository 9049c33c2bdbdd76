"""IdFeature: one categorical value per example."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature
from easy_rec.features.categorical import CategoricalMapper, validate_categorical


@register_feature("IdFeature")
class IdFeature(Feature):
    """Single id per example via hash_bucket_size, num_buckets or a vocabulary."""

    validate_config = classmethod(validate_categorical)

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self.mapper = CategoricalMapper(config, base_dir, name="mapper")

    @property
    def num_ids(self) -> int:
        return self.mapper.num_ids

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        ids, oov = self.mapper.map(raw[self.input_names[0]])
        return Encoded(ids=ids, out_of_range=oov)
