"""xDeepFM's CIN against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.cin import CIN
from easy_rec.layers.component import BlockContext, struct_params
from layers.layer_helpers import randomize, tree_kernels


# -- CIN -------------------------------------------------------------------------------------
def cin_reference(cin: CIN, fields: np.ndarray, split: list[bool]) -> np.ndarray:
    """Numpy CIN: X^k[b, h, d] = sum_ij W[i, j, h] X^{k-1}[b, i, d] X^0[b, j, d] + bias[h]."""
    x0, x, pooled = fields, fields, []
    for layer, halve in zip(cin.layers, split):
        w = layer.kernel.numpy().reshape(x.shape[1], x0.shape[1], -1)
        maps = np.einsum("bid,bjd,ijh->bhd", x, x0, w) + layer.bias.numpy()[None, :, None]
        if halve:
            x, kept = np.split(maps, 2, axis=1)
        else:
            x = kept = maps
        pooled.append(kept.sum(axis=2))
    return np.concatenate(pooled, axis=1)


@pytest.mark.parametrize("split_half,width", [(True, 4 + 8 + 6), (False, 8 + 16 + 6)])
def test_cin_shapes_and_values(split_half, width):
    fields = np.random.default_rng(4).normal(size=(3, 5, 7)).astype(np.float32)  # m=5, D=7
    cin = CIN(5, [8, 16, 6], split_half=split_half)
    randomize(cin)
    out = cin(tf.constant(fields)).numpy()
    assert cin.output_dim == width and out.shape == (3, width)
    reference = cin_reference(cin, fields, [split_half, split_half, False])
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-3)
    previous = [5, 4 if split_half else 8, 8 if split_half else 16]
    assert [tuple(k.shape) for k in tree_kernels(cin)] == [
        (p * 5, m) for p, m in zip(previous, [8, 16, 6])]


def test_cin_split_half_needs_even_maps():
    with pytest.raises(ValueError, match="even"):
        CIN(5, [7, 4], split_half=True)
    assert CIN(5, [7, 3], split_half=False).output_dim == 10


def test_cin_component_pools_every_layer_whole():
    cin = CIN.from_params(struct_params({"hidden_feature_sizes": [3, 2]}),
                          tf.TensorShape([None, 4, 5]), "cin")
    assert cin.output_dim == 5
    fields = [tf.ones([2, 5])] * 4
    assert cin.call_block(fields, False, BlockContext()).shape == (2, 5)
