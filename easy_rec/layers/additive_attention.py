"""Additive (Bahdanau-style) attention scores over a sequence.

Reference: Bahdanau et al., "Neural Machine Translation by Jointly Learning to Align and
Translate", ICLR 2015, https://arxiv.org/abs/1409.0473; used by DMR's attention units (Lyu et
al., "Deep Match to Rank Model for Personalized Click-Through Rate Prediction", AAAI 2020).

    s_t = z^T tanh(W x_t + b)

Shapes: [batch, len, input_dim] -> [batch, len] scores (unnormalised).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import Dense
from easy_rec.layers.registry import register_layer


@register_layer("AdditiveAttention")
class AdditiveAttention(Layer):
    """s_t = z^T tanh(W x_t + b) for every step of [batch, len, input_dim] -> [batch, len].

    Concatenating several inputs per step (e.g. [e_t, p_t, e_target]) gives the sum of one
    linear map per input inside the tanh, as in DMR's attention units.
    """

    def __init__(self, input_dim: int, attention_dim: int, name: str | None = None):
        super().__init__(name=name)
        with self.name_scope:
            self.hidden = Dense(input_dim, attention_dim, name="hidden")
            self.score = Dense(attention_dim, 1, use_bias=False, name="score")

    def __call__(self, x: tf.Tensor) -> tf.Tensor:
        return tf.squeeze(self.score(tf.tanh(self.hidden(x))), axis=-1)
