"""DIN's target attention: score each history element against the target, pool the history.

Reference: Zhou et al., "Deep Interest Network for Click-Through Rate Prediction", KDD 2018,
https://arxiv.org/abs/1706.06978.

For a target (query) q and history elements h_1..h_L, an attention MLP scores each pair,

    s_t = MLP([q, h_t, q - h_t, q * h_t]),   a = norm(s),   output = sum_t a_t h_t

where norm is a softmax over the real elements, a sigmoid, or none (DIN's unnormalised
weights); padding always gets weight 0.

In a one user × N items call whose history is the user's (one history shared by the N
targets, easy_rec.layers.shared_rows) the first layer of the MLP is split by its inputs,
[q, h, q - h, q * h] W = q (W_q + W_d) + h (W_h - W_d) + (q * h) W_p: the history's part is
computed once per element, the target's once per item, and only the product term per
(item, element) pair, a quarter of the multiplications; the pooling multiplies the N rows
of weights by the one history.

Shapes: query [batch, dim], sequence [batch, len, dim], mask [batch, len] -> [batch, dim].
As EasyRec's DIN component it takes (sequence, length [batch], query) -- an input_layer with
output_seq_and_normal_feature -- and returns [batch, dim] (+ the query: need_target_feature);
a query narrower than the sequence is padded with zeros.
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import tensorflow as tf

from easy_rec.layers import shared_rows
from easy_rec.layers.base import Layer
from easy_rec.layers.component import BlockContext, Params, Shapes
from easy_rec.layers.core import MLP, Dense, mlp_params
from easy_rec.layers.registry import register_layer

NORMALIZERS = ("softmax", "sigmoid", "none")


def masked_softmax(scores: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
    """Softmax over the last axis restricted to mask True; masked entries (and every entry of a
    row without any True one) get weight 0."""
    masked = tf.where(mask, scores, tf.fill(tf.shape(scores), scores.dtype.min))
    return tf.nn.softmax(masked, axis=-1) * tf.cast(mask, scores.dtype)


def pool(weights: tf.Tensor, sequence: tf.Tensor) -> tf.Tensor:
    """sum_t weights[b, t] sequence[b, t]: weights [batch, len], sequence [batch, len, dim] ->
    [batch, dim] (one matrix product when the sequence is one history shared by the rows)."""
    history = shared_rows.once(sequence)
    if history is not None:
        return tf.matmul(weights, history[0])
    return tf.einsum("bl,bld->bd", weights, sequence)


def pair_rows(query: tf.Tensor, sequence: tf.Tensor) -> tf.Tensor:
    """The attention MLP's input rows [q, h, q - h, q * h]: query [batch, dim], sequence
    [batch, len, dim] -> [batch * len, 4 dim], batch-major."""
    q = tf.tile(query[:, None, :], [1, tf.shape(sequence)[1], 1])
    return tf.reshape(tf.concat([q, sequence, q - sequence, q * sequence], axis=-1),
                      [-1, 4 * int(sequence.shape[-1])])


class SharedHistoryPairs(shared_rows.LinearInput):
    """The attention MLP's input [q, h, q - h, q * h] ([targets * len, 4 dim], target-major)
    of `targets` queries [targets, dim] and one history [len, dim]."""

    def __init__(self, query: tf.Tensor, history: tf.Tensor):
        self.query, self.history = query, history

    def dense(self, kernel: tf.Variable, bias: tf.Variable | None) -> tf.Tensor:
        dim = int(self.history.shape[-1])
        k_query, k_history, k_difference, k_product = (kernel[i * dim:(i + 1) * dim]
                                                       for i in range(4))
        per_target = tf.matmul(self.query, k_query + k_difference)  # [targets, units]
        per_element = tf.matmul(self.history, k_history - k_difference)  # [len, units]
        if bias is not None:
            per_element += bias
        products = self.query[:, None, :] * self.history[None]  # [targets, len, dim]
        units = int(kernel.shape[-1])
        cross = tf.reshape(tf.matmul(tf.reshape(products, [-1, dim]), k_product),
                           [tf.shape(self.query)[0], -1, units])
        return tf.reshape(cross + per_target[:, None, :] + per_element[None], [-1, units])

    def tensor(self) -> tf.Tensor:
        shape = tf.concat([tf.shape(self.query)[:1], tf.shape(self.history)], axis=0)
        return pair_rows(self.query, tf.broadcast_to(self.history[None], shape))


@register_layer("DIN")
class TargetAttention(Layer):
    """Weighted sum of a history, weights from an MLP over [q, h, q - h, q * h].

    query [batch, dim], sequence [batch, len, dim], mask [batch, len] -> [batch, dim]. With
    'softmax' the weights of the real elements sum to 1; 'sigmoid' and 'none' keep DIN's
    unnormalised weights (padding always gets weight 0). An empty history pools to zeros.
    attention_mlp: MLP keyword arguments of the scoring MLP.
    """

    def __init__(self, dim: int, attention_mlp: Mapping[str, Any], normalizer: str = "softmax",
                 concat_target: bool = False, name: str | None = None):
        """concat_target: the component returns [pooled history, query]."""
        super().__init__(name=name)
        self.concat_target = concat_target
        if normalizer not in NORMALIZERS:
            raise ValueError(f"attention_normalizer must be one of {NORMALIZERS}, got {normalizer!r}")
        self.normalizer = normalizer
        self.output_dim = dim
        with self.name_scope:
            self.mlp = MLP(4 * dim, **attention_mlp, name="mlp")
            # a DNN whose last layer already has 1 unit is the score; otherwise project to 1
            self.score = None if self.mlp.output_dim == 1 else Dense(self.mlp.output_dim, 1,
                                                                     name="score")

    def __call__(self, query: tf.Tensor, sequence: tf.Tensor, mask: tf.Tensor,
                 training: bool = False) -> tf.Tensor:
        return pool(self.attention_weights(query, sequence, mask, training), sequence)

    def attention_weights(self, query: tf.Tensor, sequence: tf.Tensor, mask: tf.Tensor,
                          training: bool = False) -> tf.Tensor:
        """[batch, len] weights of the history elements (see the normalizer); zero on padding."""
        length = tf.shape(sequence)[1]
        history = shared_rows.once(sequence)
        if history is not None and shared_rows.once(query) is None:
            flat = SharedHistoryPairs(query, history[0])
        else:
            flat = pair_rows(query, sequence)
        scores = self.mlp(flat, training)
        if self.score is not None:
            scores = self.score(scores)
        return self.weights_from_scores(tf.reshape(scores, [-1, length]), mask)

    def weights_from_scores(self, scores: tf.Tensor, mask: tf.Tensor) -> tf.Tensor:
        """[batch, len] attention weights; zero on padding."""
        if self.normalizer == "softmax":
            return masked_softmax(scores, mask)
        mask_f = tf.cast(mask, scores.dtype)
        if self.normalizer == "sigmoid":
            return tf.sigmoid(scores) * mask_f
        return scores * mask_f

    @classmethod
    def from_params(cls, params: Params, input_shape: Shapes, name: str) -> TargetAttention:
        """EasyRec's DIN component: attention_dnn (its last layer, linear with a bias and no
        batch norm, gives the score), need_target_feature (true), attention_normalizer
        (softmax)."""
        if not isinstance(input_shape, (list, tuple)) or len(input_shape) != 3 \
                or input_shape[2] is None:
            raise ValueError("DIN takes (sequence, length, target): an input_layer block with "
                             f"output_seq_and_normal_feature and target features, got {input_shape}")
        dim, query_dim = int(input_shape[0][-1]), int(input_shape[2][-1])
        if query_dim > dim:
            raise ValueError(f"the target ({query_dim}) is wider than the sequence ({dim})")
        mlp = {**mlp_params(params.child("attention_dnn")), "use_final_bn": False,
               "use_final_bias": True, "final_activation": "linear"}
        return cls(dim, mlp, params.get("attention_normalizer", "softmax", str),
                   params.get("need_target_feature", True), name=name)

    def call_block(self, inputs: Any, training: bool, context: BlockContext) -> tf.Tensor:  # noqa: ARG002
        sequence, length, query = inputs
        width = query.shape[-1]
        padded = tf.pad(query, [[0, 0], [0, sequence.shape[-1] - width]])
        mask = tf.sequence_mask(length, tf.shape(sequence)[1])
        pooled = self(padded, sequence, mask, training)
        return tf.concat([pooled, query], axis=-1) if self.concat_target else pooled
