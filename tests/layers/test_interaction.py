"""FM term and DLRM dot interaction against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.interaction import dot_interaction


# -- DLRM interaction ------------------------------------------------------------------------
@pytest.mark.parametrize("itself", [False, True])
def test_dot_interaction_is_the_upper_triangle(itself):
    vectors = np.random.default_rng(3).normal(size=(4, 2, 5)).astype(np.float32)  # n=4
    out = dot_interaction([tf.constant(v) for v in vectors], self_interaction=itself).numpy()
    first = 0 if itself else 1
    expected = [np.sum(vectors[i] * vectors[j], axis=1)
                for i in range(4) for j in range(i + first, 4)]
    assert out.shape == (2, 10 if itself else 6)
    np.testing.assert_allclose(out, np.stack(expected, axis=1), rtol=1e-5, atol=1e-5)
