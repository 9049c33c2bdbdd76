"""Dot-product (Luong-style) attention of a query sequence over a value sequence.

Reference: Luong et al., "Effective Approaches to Attention-based Neural Machine Translation",
EMNLP 2015, https://arxiv.org/abs/1508.04025 (EasyRec's `Attention` component, which follows
the Keras layer of that name).

With query Q [Tq, dim], key K [Tv, dim] (the value when not given) and value V [Tv, dim']:

    dot:    S = Q K^T * s          (s a learned scalar with use_scale, 1 / sqrt(dim) with
                                     scale_by_dim, else 1)
    concat: S_ij = w * sum_d tanh(s * (q_i + k_j))_d     (w a learned scalar, initialised 1)
    A = softmax(S) over the value positions (masked ones, and with use_causal_mask j > i,
        get -1e9 first), dropout on A in training;   output = A V

and query positions that are masked are zeroed.

Shapes: query [batch, Tq, dim], value [batch, Tv, dim'], key [batch, Tv, dim] ->
[batch, Tq, dim'] (and the [batch, Tq, Tv] weights with return_attention_scores).
"""
from __future__ import annotations

from collections.abc import Sequence

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.component import Params, Shapes
from easy_rec.layers.registry import register_layer

SCORE_MODES = ("dot", "concat")
_MASKED = 1.0e9


@register_layer("Attention")
class DotProductAttention(Layer):
    """Luong attention over [query, value] or [query, value, key] (see the module docstring).

    The scalars (scale, concat weight) are no kernels: no L2 applies to them.
    """

    def __init__(self, use_scale: bool = False, scale_by_dim: bool = False,
                 score_mode: str = "dot", dropout: float = 0.0, seed: int | None = None,
                 return_attention_scores: bool = False, use_causal_mask: bool = False,
                 name: str | None = None):
        super().__init__(name=name)
        if score_mode not in SCORE_MODES:
            raise ValueError(f"score_mode must be one of {SCORE_MODES}, got {score_mode!r}")
        self._scale_by_dim = scale_by_dim
        self._score_mode = score_mode
        self._dropout = dropout
        self._seed = seed
        self._return_scores = return_attention_scores
        self._causal = use_causal_mask
        with self.name_scope:
            self.scale = tf.Variable(1.0, name="scale") if use_scale else None
            self.concat_score_weight = (tf.Variable(1.0, name="concat_score_weight")
                                        if score_mode == "concat" else None)

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> DotProductAttention:
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) not in (2, 3):
            raise params.error("Attention takes a list [query, value] or [query, value, key]")
        return cls(use_scale=params.get("use_scale", False),
                   scale_by_dim=params.get("scale_by_dim", False),
                   score_mode=params.get("score_mode", "dot"),
                   dropout=params.get("dropout", 0.0), seed=params.get("seed", None, int),
                   return_attention_scores=params.get("return_attention_scores", False),
                   use_causal_mask=params.get("use_causal_mask", False), name=name)

    def scores(self, query: tf.Tensor, key: tf.Tensor) -> tf.Tensor:
        """Unnormalised scores [batch, Tq, Tv]."""
        if self._score_mode == "dot":
            scores = tf.matmul(query, key, transpose_b=True)
            if self.scale is not None:
                return scores * self.scale
            if self._scale_by_dim:
                return scores / tf.sqrt(tf.cast(tf.shape(key)[-1], scores.dtype))
            return scores
        pairs = query[:, :, None, :] + key[:, None, :, :]
        if self.scale is not None:
            pairs *= self.scale
        return self.concat_score_weight * tf.reduce_sum(tf.tanh(pairs), axis=-1)

    def __call__(self, inputs: Sequence[tf.Tensor], training: bool = False,
                 mask: Sequence[tf.Tensor | None] | None = None
                 ) -> tf.Tensor | tuple[tf.Tensor, tf.Tensor]:
        """inputs [query, value] or [query, value, key]; mask optional [query_mask, value_mask]
        (bool [batch, Tq] and [batch, Tv])."""
        query, value = inputs[0], inputs[1]
        key = inputs[2] if len(inputs) > 2 else value
        query_mask, value_mask = (list(mask) + [None, None])[:2] if mask else (None, None)
        scores = self.scores(query, key)
        allowed = None if value_mask is None else tf.cast(value_mask, tf.bool)[:, None, :]
        if self._causal:
            tq, tv = tf.shape(scores)[1], tf.shape(scores)[2]
            causal = tf.range(tq)[:, None] >= tf.range(tv)[None, :]
            allowed = causal[None] if allowed is None else allowed & causal[None]
        if allowed is not None:
            scores -= _MASKED * (1.0 - tf.cast(allowed, scores.dtype))
        weights = tf.nn.softmax(scores, axis=-1)
        if training and self._dropout > 0:
            weights = tf.nn.dropout(weights, rate=self._dropout, seed=self._seed)
        result = tf.matmul(weights, value)
        if query_mask is not None:
            result *= tf.cast(query_mask, result.dtype)[:, :, None]
        return (result, weights) if self._return_scores else result
