"""ExprFeature: a number computed from input columns by an `expression`, e.g. whether the
user's age lies within the range the item targets."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.features.base import Encoded, Feature, FeatureConfig, register_feature
from easy_rec.features.expression import ExpressionError, evaluate, names, parse


@register_feature("ExprFeature")
class ExprFeature(Feature):
    """A dense [batch, 1] value: `expression` (see easy_rec.features.expression) over the
    input_names columns, each read as a number."""

    categorical = False

    @classmethod
    def validate_config(cls, ctx: CheckContext, config: FeatureConfig, where: str) -> None:
        """The expression parses and reads only columns listed in input_names."""
        name = feature_name(config)
        if not config.expression:
            ctx.fail(f"{where}.expression", f"ExprFeature {name!r} needs an expression")
        try:
            tree = parse(config.expression)
        except ExpressionError as error:
            ctx.fail(f"{where}.expression", f"ExprFeature {name!r}: expression "
                     f"{config.expression!r}: {error}")
        unknown = [n for n in names(tree) if n not in config.input_names]
        if unknown:
            ctx.fail(f"{where}.expression", f"ExprFeature {name!r}: expression uses "
                     f"{', '.join(map(repr, unknown))}, which must be listed in input_names "
                     f"(input_names: {', '.join(config.input_names)})")

    def __init__(self, config: FeatureConfig, base_dir: str | None = None):
        super().__init__(config, base_dir)
        self._tree = parse(config.expression)

    @property
    def dense_dim(self) -> int:
        return 1

    def encode(self, raw: dict[str, tf.Tensor]) -> Encoded:
        columns = {n: _as_float64(raw[n]) for n in names(self._tree)}
        value = evaluate(self._tree, columns)
        batch = tf.shape(raw[self.input_names[0]])[:1]
        value = tf.broadcast_to(value, batch) if value.shape.rank == 0 else value
        return Encoded(dense=tf.reshape(tf.cast(value, tf.float32), [-1, 1]))


def _as_float64(column: tf.Tensor) -> tf.Tensor:
    """[batch] float64 values of a numeric or numeric-string column."""
    column = tf.reshape(column, [-1])
    if column.dtype == tf.string:
        return tf.strings.to_number(column, tf.float64)
    return tf.cast(column, tf.float64)
