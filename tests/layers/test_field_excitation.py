"""FieldExcitation (DSSM_SENet's squeeze-and-excitation) against hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.field_excitation import FieldExcitation


def test_hand_computed_excitation():
    layer = FieldExcitation([2, 4], reduction_ratio=4, num_squeeze_group=2)
    # squeeze: 2 fields x 2 groups x (max, mean) = 8 values, reduced to 8 // 4 = 2 units
    assert layer.reduce.kernel.shape == (8, 2) and layer.excite.kernel.shape == (2, 6)
    reduce = np.zeros((8, 2), np.float32)
    reduce[0, 0] = 1.0   # unit 0 = max of field 0's first group
    reduce[7, 1] = -1.0  # unit 1 = -(mean of field 1's second group)
    layer.reduce.kernel.assign(reduce)
    layer.reduce.bias.assign([0.0, 0.0])
    layer.excite.kernel.assign(np.ones((2, 6), np.float32))
    layer.excite.bias.assign(np.arange(6, dtype=np.float32))
    a = tf.constant([[3.0, -1.0]])
    b = tf.constant([[1.0, 2.0, -4.0, -2.0]])
    out = layer([a, b]).numpy()
    # field 0 groups: [3], [-1] -> max 3; field 1 second group [-4, -2]: mean -3
    # reduced = relu([3, 3]) = [3, 3]; weights = 3 + 3 + [0..5] = [6, 7, 8, 9, 10, 11]
    np.testing.assert_allclose(out, [[18.0, -7.0, 8.0, 18.0, -40.0, -22.0]])
    assert layer.output_dim == 6


def test_widths_must_split_into_groups():
    with pytest.raises(ValueError, match=r"field widths \[3\] are not divisible"):
        FieldExcitation([4, 3], num_squeeze_group=2)
