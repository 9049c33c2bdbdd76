"""GRU over padded sequences, with DIEN's attentional update gate (AUGRU), in plain TF ops.

References: Cho et al., "Learning Phrase Representations using RNN Encoder-Decoder for
Statistical Machine Translation", EMNLP 2014, https://arxiv.org/abs/1406.1078; Zhou et al.,
"Deep Interest Evolution Network for Click-Through Rate Prediction", AAAI 2019,
https://arxiv.org/abs/1809.03672.

    u = sigmoid(W_u x + U_u h + b_u),  r = sigmoid(W_r x + U_r h + b_r)
    h~ = tanh(W_h x + r * (U_h h) + b_h),  h' = (1 - u) * h + u * h~   (AUGRU: u <- a_t u)

Shapes: sequence [batch, len, input_dim], mask [batch, len] (optional attention [batch, len])
-> (states [batch, len, units], final state [batch, units]).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.layers.base import Layer
from easy_rec.layers.core import Dense
from easy_rec.layers.registry import register_layer


@register_layer("GRU")
class GRU(Layer):
    """Gated recurrent unit run over a right-padded [batch, len, input_dim] sequence.

    One step, with x the input and h the previous state (DIEN's notation):

        u  = sigmoid(W_u x + U_u h + b_u)            update gate
        r  = sigmoid(W_r x + U_r h + b_r)            reset gate
        h~ = tanh(W_h x + r * (U_h h) + b_h)
        h' = (1 - u) * h + u * h~

    Given attention scores a_t, the update gate becomes a_t * u (AUGRU), so a step the target
    does not attend to leaves the state almost unchanged. Padded steps (mask False) keep the
    state, so padding never changes the outputs of real steps or the final state. The loop is a
    tf.scan over time (a stock While op, traced once whatever the length).
    """

    def __init__(self, input_dim: int, units: int, name: str | None = None):
        super().__init__(name=name)
        if units < 1:
            raise ValueError(f"GRU units must be >= 1, got {units}")
        self.units = units
        with self.name_scope:
            # gates in the order update, reset, candidate
            self.input_kernel = Dense(input_dim, 3 * units, name="input")
            self.recurrent_kernel = Dense(units, 3 * units, use_bias=False, name="recurrent")

    def step(self, projected: tf.Tensor, state: tf.Tensor,
             attention: tf.Tensor | None = None) -> tf.Tensor:
        """One update: projected = W x + b ([batch, 3 * units]), state [batch, units] ->
        new state; attention [batch] scales the update gate (AUGRU)."""
        x_u, x_r, x_h = tf.split(projected, 3, axis=1)
        h_u, h_r, h_h = tf.split(self.recurrent_kernel(state), 3, axis=1)
        update = tf.sigmoid(x_u + h_u)
        reset = tf.sigmoid(x_r + h_r)
        candidate = tf.tanh(x_h + reset * h_h)
        if attention is not None:
            update *= attention[:, None]
        return (1.0 - update) * state + update * candidate

    def __call__(self, sequence: tf.Tensor, mask: tf.Tensor,
                 attention: tf.Tensor | None = None) -> tuple[tf.Tensor, tf.Tensor]:
        """sequence [batch, len, input_dim] (len >= 1), mask [batch, len] bool, optional
        attention [batch, len] -> (states [batch, len, units], final state [batch, units]).

        The state starts at zero; states[:, t] is the state after step t (on a padded step,
        the state of the last real step); a row without real steps ends at zero.
        """
        projected = tf.transpose(self.input_kernel(sequence), [1, 0, 2])
        steps = [projected, tf.transpose(mask)]
        if attention is not None:
            steps.append(tf.transpose(attention))

        def advance(state: tf.Tensor, step: list[tf.Tensor]) -> tf.Tensor:
            score = step[2] if len(step) > 2 else None
            return tf.where(step[1][:, None], self.step(step[0], state, score), state)

        initial = tf.zeros([tf.shape(sequence)[0], self.units], sequence.dtype)
        states = tf.scan(advance, steps, initializer=initial)
        return tf.transpose(states, [1, 0, 2]), states[-1]
