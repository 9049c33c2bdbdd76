"""FM term and DLRM dot interaction against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.interaction import dot_interaction, fm_interaction


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


def test_fm_is_the_sum_of_pairwise_inner_products():
    v = [tf.constant([[1.0, 2.0]]), tf.constant([[3.0, 4.0]]), tf.constant([[0.0, -1.0]])]
    # <v1, v2> + <v1, v3> + <v2, v3> = 11 - 2 - 4 = 5
    assert fm_interaction(v).numpy().tolist() == [[5.0]]
    # per dimension: d0 = 1*3 + 1*0 + 3*0 = 3, d1 = 2*4 + 2*(-1) + 4*(-1) = 2 (they sum to 5)
    assert fm_interaction(v, per_dimension=True).numpy().tolist() == [[3.0, 2.0]]
    assert dot_interaction(v).numpy().tolist() == [[11.0, -2.0, -4.0]]
