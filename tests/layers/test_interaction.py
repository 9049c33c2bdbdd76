"""FM term and DLRM dot interaction against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.interaction import (
    FM,
    DotInteraction,
    dot_interaction,
    fm_interaction,
    fm_interaction_by_width,
)


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


def test_fm_by_width_interacts_fields_of_one_width_only():
    a, b = tf.constant([[1.0, 2.0]]), tf.constant([[3.0, -1.0]])
    c, d = tf.constant([[1.0, 1.0, 2.0]]), tf.constant([[0.5, 0.0, 1.0]])
    # <a, b> + <c, d> = (3 - 2) + (0.5 + 2); no pair of a 2-wide and a 3-wide field
    np.testing.assert_allclose(fm_interaction_by_width([a, c, b, d]).numpy(), [[3.5]])
    np.testing.assert_allclose(fm_interaction_by_width([a, b]).numpy(),
                               fm_interaction([a, b]).numpy())


def test_fm_component_takes_a_list_or_a_cube_and_has_a_vector_variant():
    fields = [tf.constant([[1.0, 2.0]]), tf.constant([[3.0, -1.0]])]
    shapes = [tf.TensorShape([None, 2])] * 2
    # <v1, v2> = 3 - 2 = 1; per dimension [3, -2]
    assert FM.from_params(struct_params({}), shapes, "fm")(fields).numpy().tolist() == [[1.0]]
    cube = tf.stack(fields, axis=1)
    variant = FM.from_params(struct_params({"use_variant": True}), cube.shape, "fm")
    assert variant(cube).numpy().tolist() == [[3.0, -2.0]]
    with pytest.raises(ValueError, match="one width"):
        FM.from_params(struct_params({}), [tf.TensorShape([None, 2]), tf.TensorShape([None, 3])],
                       "fm")


def test_dot_interaction_component_pairs_and_skip_gather():
    fields = [tf.constant([[1.0, 0.0]]), tf.constant([[2.0, 1.0]]), tf.constant([[0.0, 3.0]])]
    shapes = [tf.TensorShape([None, 2])] * 3
    dot = DotInteraction.from_params(struct_params({}), shapes, "dot")
    # pairs (0,1) (0,2) (1,2): 2, 0, 3
    assert dot(fields).numpy().tolist() == [[2.0, 0.0, 3.0]]
    full = DotInteraction.from_params(struct_params({"skip_gather": True}), shapes, "dot")
    # lower triangle without the diagonal, row-major 3 x 3
    assert full(fields).numpy().tolist() == [[0.0, 0.0, 0.0, 2.0, 0.0, 0.0, 0.0, 3.0, 0.0]]
