"""LayerNorm against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.norm import LayerNorm
from layers.layer_helpers import layer_norm, normal, randomize


def test_layer_norm_matches_numpy():
    x = normal(3, 5, 8)
    ln = LayerNorm(8)
    randomize(ln, scale=0.5)
    np.testing.assert_allclose(ln(tf.constant(x)).numpy(), layer_norm(x, ln), rtol=1e-4,
                               atol=1e-5)
