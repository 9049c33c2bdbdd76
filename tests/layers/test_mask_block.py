"""MaskNet's MaskBlock against numpy and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import BlockContext, ParamError, Params, struct_params
from easy_rec.layers.mask_block import MaskBlock, MaskNet
from easy_rec.protos import masknet_pb2
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


def test_mask_block_component_sizes_and_inputs():
    shape = tf.TensorShape([None, 8])
    block = MaskBlock.from_params(struct_params({"reduction_factor": 0.5, "output_size": 3}),
                                  [shape, tf.TensorShape([None, 4])], "mb")
    assert block.aggregation.units == 2 and block.input_norm is None and block.output_dim == 3
    x, mask_input = tf.constant(normal(2, 8)), tf.constant(normal(2, 4))
    context = BlockContext()
    np.testing.assert_allclose(block.call_block([x, mask_input], False, context).numpy(),
                               block(x, mask_input).numpy())
    with pytest.raises(ParamError, match="'aggregation_size' is required"):
        MaskBlock.from_params(struct_params({}), shape, "mb")


@pytest.mark.parametrize("parallel", [True, False])
def test_masknet_component_runs_blocks_in_parallel_or_in_series(parallel):
    config = masknet_pb2.MaskNet(use_parallel=parallel, mask_blocks=[
        masknet_pb2.MaskBlock(aggregation_size=4, output_size=3),
        masknet_pb2.MaskBlock(aggregation_size=4, output_size=2)])
    config.mlp.hidden_units.append(5)
    net = MaskNet.from_params(Params(config, "masknet"), tf.TensorShape([None, 6]), "net")
    randomize(net)
    x = tf.constant(normal(3, 6))
    normed = net.input_norm(x)
    first, second = net.blocks
    if parallel:
        hidden = tf.concat([first(normed, normed), second(normed, normed)], axis=-1)
    else:
        hidden = second(first(normed, normed), normed)
    np.testing.assert_allclose(net(x).numpy(), net.mlp(hidden, False).numpy(), rtol=1e-5)
    assert net.output_dim == 5
