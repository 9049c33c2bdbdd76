"""MaskNet's MaskBlock against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.mask_block import MaskBlock
from layers.layer_helpers import dense, layer_norm, normal, randomize, relu, tree_kernels


# -- MaskBlock -------------------------------------------------------------------------------
@pytest.mark.parametrize("output_size,input_norm,projection", [
    (6, True, 0), (0, True, 0), (6, False, 3)])
def test_mask_block_matches_numpy(output_size, input_norm, projection):
    x, v = normal(3, 10), normal(3, 12)  # block input (e.g. previous block), full embedding
    block = MaskBlock(10, 12, aggregation_size=8, output_size=output_size,
                      input_layer_norm=input_norm, projection_dim=projection)
    randomize(block, scale=0.5)
    source = v @ block.projection.kernel.numpy() if projection else v
    mask = dense(relu(dense(source, block.aggregation)), block.mask)
    masked = mask * (layer_norm(x, block.input_norm) if input_norm else x)
    expected = (relu(layer_norm(masked @ block.output_layer.kernel.numpy(), block.output_norm))
                if output_size else masked)
    out = block(tf.constant(x), tf.constant(v)).numpy()
    assert block.output_dim == (output_size or 10) and out.shape == (3, block.output_dim)
    np.testing.assert_allclose(out, expected, rtol=1e-4, atol=1e-4)
    assert len(tree_kernels(block)) == 2 + bool(output_size) + bool(projection)
