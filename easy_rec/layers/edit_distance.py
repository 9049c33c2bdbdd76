"""EditDistance: an embedding of the edit distance between two strings.

EasyRec's `EditDistance` component (its custom-op example, used on raw PassThroughFeature
strings): the Levenshtein distance between the two strings, counted in characters of
`text_encoding`, is clipped to [0, embedding_size - 1] and looked up in an
[embedding_size, embedding_dim] table.

    d = levenshtein(chars(a), chars(b)),   e = T[min(d, embedding_size - 1)]

Shapes: [a, b] strings [batch] (or [batch, 1]) -> [batch, embedding_dim]. EasyRec computes the
distance with a custom op; here it is tf.edit_distance over Unicode characters.
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.field_interaction import glorot_uniform
from easy_rec.layers.registry import register_layer

ENCODINGS = {"utf-8": "UTF-8", "utf8": "UTF-8", "utf-16-be": "UTF-16-BE",
             "utf-32-be": "UTF-32-BE"}


def _characters(strings: tf.Tensor, encoding: str) -> tf.SparseTensor:
    return tf.strings.unicode_split(tf.reshape(strings, [-1]), encoding).to_sparse()


@register_layer("EditDistance")
class EditDistance(Layer):
    """Embedding of the clipped character edit distance of two strings (module docstring)."""

    def __init__(self, embedding_size: int = 512, embedding_dim: int = 4,
                 text_encoding: str = "utf-8", name: str | None = None):
        super().__init__(name=name)
        if text_encoding.lower() not in ENCODINGS:
            raise ValueError(f"text_encoding must be one of {', '.join(ENCODINGS)}, "
                             f"got {text_encoding!r}")
        self._encoding = ENCODINGS[text_encoding.lower()]
        self._size = embedding_size
        with self.name_scope:
            self.table = tf.Variable(glorot_uniform([embedding_size, embedding_dim]),
                                     name="embedding_table")
        self.output_dim = embedding_dim

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> EditDistance:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise params.error("EditDistance takes two string inputs")
        encoding = params.get("text_encoding", "utf-8", str)
        if encoding.lower() not in ENCODINGS:
            raise params.error(f"text_encoding {encoding!r} is not supported (supported: "
                               f"{', '.join(ENCODINGS)})", "text_encoding")
        return cls(embedding_size=params.get("embedding_size", 512),
                   embedding_dim=params.get("embedding_dim", 4), text_encoding=encoding,
                   name=name)

    def distance(self, first: tf.Tensor, second: tf.Tensor) -> tf.Tensor:
        """[batch] character edit distances (int32)."""
        distance = tf.edit_distance(_characters(first, self._encoding),
                                    _characters(second, self._encoding), normalize=False)
        return tf.cast(distance, tf.int32)

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:
        """[a, b] strings -> [batch, embedding_dim]."""
        ids = tf.clip_by_value(self.distance(inputs[0], inputs[1]), 0, self._size - 1)
        return tf.gather(self.table, ids)
