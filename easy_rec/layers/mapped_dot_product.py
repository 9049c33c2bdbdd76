"""MappedDotProduct: the dot product of two weighted term lists given as strings.

EasyRec's `MappedDotProduct` component (a custom op there, used on raw PassThroughFeature
strings). Query and document are separator-joined terms `key:weight` (a term without ':' has
weight 1); reading each as a sparse vector over keys,

    f = sum_k q_k d_k          (default_value when the query or the document has no term)

so a document of plain keys sums the query weights of the keys it contains. With boundaries
f is bucketised, and with embedding_dim > 0 too the bucket is embedded.

Shapes: query, document [batch] (or [batch, 1]) strings -> [batch, 1], or [batch,
embedding_dim]. Deliberate differences: `normalize_fn` (a Python expression EasyRec runs with
eval) is refused; `print_first_n` / `summarize` (debug printing) are ignored; bucket ids
without an embedding come out as float32 (EasyRec's are int32).
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.registry import register_layer
from easy_rec.layers.term_features import DEFAULT_SEPARATOR, BucketEmbedding, padded, split_terms


def weighted_terms(strings: tf.Tensor, separator: str) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    """Keys [batch, T], weights [batch, T] (0 on padding) and the real-term mask [batch, T]."""
    terms, mask = padded(split_terms(strings, separator))
    has_weight = tf.strings.regex_full_match(terms, ".*:[^:]*")
    keys = tf.where(has_weight, tf.strings.regex_replace(terms, ":[^:]*$", ""), terms)
    weight_text = tf.where(has_weight, tf.strings.regex_replace(terms, "^.*:", ""), "1")
    weights = tf.where(mask, tf.strings.to_number(tf.where(mask, weight_text, "0")), 0.0)
    return keys, weights, mask


@register_layer("MappedDotProduct")
class MappedDotProduct(Layer):
    """sum over shared keys of query weight * document weight (see the module docstring)."""

    def __init__(self, separator: str = DEFAULT_SEPARATOR, default_value: float = 0.0,
                 boundaries: Sequence[float] = (), embedding_dim: int = 0,
                 name: str | None = None):
        super().__init__(name=name)
        self._separator = separator
        self._default = float(default_value)
        with self.name_scope:
            self.buckets = (BucketEmbedding(boundaries, 1, embedding_dim, name="buckets")
                            if boundaries else None)
        self.output_dim = self.buckets.output_dim if self.buckets else 1

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> MappedDotProduct:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise params.error("MappedDotProduct takes [query, document] strings")
        if params.has("normalize_fn"):
            raise params.error("normalize_fn is not supported: it is a Python expression "
                               "EasyRec runs with eval", "normalize_fn")
        return cls(separator=params.get("separator", DEFAULT_SEPARATOR),
                   default_value=params.get("default_value", 0.0),
                   boundaries=params.get("boundaries", [], float),
                   embedding_dim=params.get("embedding_dim", 0), name=name)

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:
        """[query, document] strings -> [batch, output_dim]."""
        q_keys, q_weights, q_mask = weighted_terms(inputs[0], self._separator)
        d_keys, d_weights, d_mask = weighted_terms(inputs[1], self._separator)
        same = tf.cast(tf.equal(q_keys[:, :, None], d_keys[:, None, :]), tf.float32)
        dot = tf.einsum("bij,bi,bj->b", same, q_weights, d_weights)
        both = tf.reduce_any(q_mask, axis=1) & tf.reduce_any(d_mask, axis=1)
        value = tf.where(both, dot, self._default)[:, None]
        return self.buckets(value) if self.buckets is not None else value
