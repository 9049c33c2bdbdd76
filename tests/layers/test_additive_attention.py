"""Additive attention scores with weights assigned by hand."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.additive_attention import AdditiveAttention
from layers.layer_helpers import tree_kernels


def test_scores_are_z_tanh_wx_plus_b():
    attention = AdditiveAttention(2, 2)
    attention.hidden.kernel.assign([[1.0, 0.0], [0.0, 1.0]])
    attention.hidden.bias.assign([0.0, 1.0])
    attention.score.kernel.assign([[2.0], [-1.0]])
    x = tf.constant([[[1.0, 0.0], [0.0, -1.0]]])  # [batch 1, len 2, dim 2]
    # step 0: tanh([1, 1]) . [2, -1] = tanh(1); step 1: tanh([0, 0]) . z = 0
    np.testing.assert_allclose(attention(x).numpy(), [[np.tanh(1.0), 0.0]], rtol=1e-6)
    assert len(tree_kernels(attention)) == 2
