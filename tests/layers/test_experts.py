"""Gate, expert groups, MMoE and PLE extraction layers with hand-computed values."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.experts import Gate


def test_gate_mixes_experts_with_softmax_weights():
    gate = Gate(4, 3)
    selector = tf.random.normal([5, 4])
    experts = [tf.fill([5, 2], float(i)) for i in range(3)]
    weights = gate.weights(selector).numpy()
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-6)
    np.testing.assert_allclose(gate(selector, experts)[:, 0], weights @ np.arange(3.0), rtol=1e-5)
