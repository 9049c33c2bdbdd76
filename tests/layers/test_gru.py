"""GRU / AUGRU steps against numpy, and padding handling."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.gru import GRU
from layers.layer_helpers import sigmoid


# ------------------------------------------------------------------ GRU
def test_gru_step_matches_numpy():
    tf.random.set_seed(0)
    gru = GRU(5, 4)
    x, h = tf.random.normal([3, 5]), tf.random.normal([3, 4])
    attention = tf.constant([0.2, 0.5, 1.0])
    w, b = gru.input_kernel.kernel.numpy(), gru.input_kernel.bias.numpy()
    u = gru.recurrent_kernel.kernel.numpy()
    xp, hp = x.numpy() @ w + b, h.numpy() @ u
    update = sigmoid(xp[:, :4] + hp[:, :4])
    reset = sigmoid(xp[:, 4:8] + hp[:, 4:8])
    candidate = np.tanh(xp[:, 8:] + reset * hp[:, 8:])
    want = (1 - update) * h.numpy() + update * candidate
    projected = gru.input_kernel(x)
    np.testing.assert_allclose(gru.step(projected, h).numpy(), want, rtol=1e-5, atol=1e-6)
    scaled = update * attention.numpy()[:, None]  # AUGRU: attention scales the update gate
    want_augru = (1 - scaled) * h.numpy() + scaled * candidate
    np.testing.assert_allclose(gru.step(projected, h, attention).numpy(), want_augru,
                               rtol=1e-5, atol=1e-6)


def test_gru_padding_keeps_the_state():
    tf.random.set_seed(1)
    gru = GRU(3, 4)
    sequence = tf.random.normal([3, 5, 3])
    mask = tf.sequence_mask([2, 5, 0], 5)
    attention = tf.random.uniform([3, 5])
    states, final = gru(sequence, mask, attention)
    noisy = tf.where(mask[:, :, None], sequence, 99.0)
    states_noisy, final_noisy = gru(noisy, mask, tf.where(mask, attention, 0.7))
    np.testing.assert_allclose(final.numpy(), final_noisy.numpy(), rtol=1e-6)
    np.testing.assert_allclose(states.numpy(), states_noisy.numpy(), rtol=1e-6)
    np.testing.assert_allclose(final.numpy()[0], states.numpy()[0, 1])  # the last real step
    np.testing.assert_allclose(states.numpy()[0, 2:], np.repeat(states.numpy()[0, 1:2], 3, 0))
    assert not final.numpy()[2].any()  # no real step: the zero initial state
    # the state after 2 real steps equals that of running the first 2 steps alone
    short_states, short_final = gru(sequence[:1, :2], mask[:1, :2], attention[:1, :2])
    np.testing.assert_allclose(short_final.numpy()[0], final.numpy()[0], rtol=1e-5)
