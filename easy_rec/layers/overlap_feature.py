"""OverlapFeature: how much a query's terms and a title's terms overlap.

EasyRec's `OverlapFeature` component (a custom op there, used on raw PassThroughFeature
strings), with the methods of EasyRec's overlap feature generation. With Q the query's terms
and T the title's (separator-joined strings):

    query_common_ratio   |{q in Q : q occurs in T}| / |Q|
    title_common_ratio   |{t in T : t occurs in Q}| / |T|
    is_contain           1 if Q occurs in T as a contiguous run of terms, else 0
    is_equal             1 if Q and T are the same term sequence, else 0

(counts over term occurrences; default_value when Q or T has no term). One column per method,
in the order given; with boundaries each column is bucketised, and with embedding_dim > 0 too
each column's bucket is embedded (one block of rows per method).

Shapes: query, title [batch] (or [batch, 1]) strings -> [batch, len(methods)], or
[batch, len(methods) * embedding_dim]. Deliberate differences: `normalize_fn` (a Python
expression EasyRec runs with eval) is refused; `print_first_n` / `summarize` (debug printing)
are ignored; bucket ids without an embedding come out as float32 (EasyRec's are int32).
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.registry import register_layer
from easy_rec.layers.term_features import DEFAULT_SEPARATOR, BucketEmbedding, padded, split_terms


class Overlap:
    """The padded query / title terms of a batch and the overlap measures between them."""

    def __init__(self, query: tf.RaggedTensor, title: tf.RaggedTensor):
        width = tf.maximum(query.bounding_shape(1), title.bounding_shape(1))
        self.query, self.query_mask = padded(query, width)
        self.title, self.title_mask = padded(title, width)
        self.query_len = tf.cast(query.row_lengths(), tf.float32)
        self.title_len = tf.cast(title.row_lengths(), tf.float32)
        self.same = (tf.equal(self.query[:, :, None], self.title[:, None, :])
                     & self.query_mask[:, :, None] & self.title_mask[:, None, :])  # [b, Q, T]

    def query_common_ratio(self) -> tf.Tensor:
        found = tf.reduce_sum(tf.cast(tf.reduce_any(self.same, axis=2), tf.float32), axis=1)
        return tf.math.divide_no_nan(found, self.query_len)

    def title_common_ratio(self) -> tf.Tensor:
        found = tf.reduce_sum(tf.cast(tf.reduce_any(self.same, axis=1), tf.float32), axis=1)
        return tf.math.divide_no_nan(found, self.title_len)

    def is_equal(self) -> tf.Tensor:
        equal = tf.reduce_all(tf.equal(self.query, self.title), axis=1)
        return tf.cast(equal & tf.equal(self.query_len, self.title_len), tf.float32)

    def is_contain(self) -> tf.Tensor:
        width = tf.shape(self.query)[1]
        starts, offsets = tf.range(width)[:, None], tf.range(width)[None, :]
        # windows[b, s, i] = title[b, s + i]; only windows inside the title count (`fits`)
        title = tf.pad(self.title, [[0, 0], [0, width]], constant_values="")
        windows = tf.gather(title, starts + offsets, axis=1)
        beyond_query = ~self.query_mask[:, None, :]
        match = tf.reduce_all(tf.equal(windows, self.query[:, None, :]) | beyond_query, axis=2)
        ends = tf.cast(starts[None, :, 0], tf.float32) + self.query_len[:, None]
        fits = ends <= self.title_len[:, None]
        return tf.cast(tf.reduce_any(match & fits, axis=1), tf.float32)


METHODS: dict[str, Callable[[Overlap], tf.Tensor]] = {
    "query_common_ratio": Overlap.query_common_ratio,
    "title_common_ratio": Overlap.title_common_ratio,
    "is_contain": Overlap.is_contain,
    "is_equal": Overlap.is_equal,
}


@register_layer("OverlapFeature")
class OverlapFeature(Layer):
    """One overlap measure per method between query and title terms (module docstring)."""

    def __init__(self, methods: Sequence[str], separator: str = DEFAULT_SEPARATOR,
                 default_value: float = -1.0, boundaries: Sequence[float] = (),
                 embedding_dim: int = 0, name: str | None = None):
        super().__init__(name=name)
        unknown = [m for m in methods if m not in METHODS]
        if not methods or unknown:
            raise ValueError(f"overlap methods must be among {', '.join(METHODS)}, "
                             f"got {list(methods)}")
        self._methods = [METHODS[m] for m in methods]
        self._separator = separator
        self._default = float(default_value)
        with self.name_scope:
            self.buckets = (BucketEmbedding(boundaries, len(methods), embedding_dim,
                                            name="buckets") if boundaries else None)
        self.output_dim = self.buckets.output_dim if self.buckets else len(methods)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> OverlapFeature:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) < 2:
            raise params.error("OverlapFeature takes [query, title] strings")
        if params.has("normalize_fn"):
            raise params.error("normalize_fn is not supported: it is a Python expression "
                               "EasyRec runs with eval", "normalize_fn")
        methods = params.get("methods", [], str)
        unknown = [m for m in methods if m not in METHODS]
        if not methods or unknown:
            raise params.error(f"methods must be set, among {', '.join(METHODS)}"
                               + (f"; {', '.join(unknown)} is not supported" if unknown else ""),
                               "methods")
        return cls(methods, separator=params.get("separator", DEFAULT_SEPARATOR),
                   default_value=float(params.get("default_value", "-1")),
                   boundaries=params.get("boundaries", [], float),
                   embedding_dim=params.get("embedding_dim", 0), name=name)

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False) -> tf.Tensor:
        """[query, title] strings -> [batch, output_dim]."""
        query = split_terms(inputs[0], self._separator)
        title = split_terms(inputs[1], self._separator)
        overlap = Overlap(query, title)
        values = tf.stack([method(overlap) for method in self._methods], axis=1)
        both = (overlap.query_len > 0) & (overlap.title_len > 0)
        values = tf.where(both[:, None], values, self._default)
        return self.buckets(values) if self.buckets is not None else values
