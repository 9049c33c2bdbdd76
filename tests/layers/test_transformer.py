"""Transformer encoder: padding, dropout and hand-computed values."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import BlockContext, ParamError, struct_params
from easy_rec.layers.transformer import TransformerBlock, TransformerEncoder


# ------------------------------------------------------------------ transformer
def test_transformer_ignores_padding_and_zeroes_it():
    tf.random.set_seed(2)
    encoder = TransformerEncoder(8, num_layers=2, num_heads=2, dropout_ratio=0.5)
    x = tf.random.normal([2, 4, 8])
    mask = tf.sequence_mask([2, 4], 4)
    out = encoder(x, mask).numpy()
    noisy = encoder(tf.where(mask[:, :, None], x, -50.0), mask).numpy()
    np.testing.assert_allclose(out, noisy, rtol=1e-5, atol=1e-5)
    assert not out[0, 2:].any()
    # dropout only in training
    np.testing.assert_allclose(out, encoder(x, mask, training=False).numpy())
    assert not np.allclose(out, encoder(x, mask, training=True).numpy())


def test_a_block_without_attention_values_or_feed_forward_is_layer_norms():
    encoder = TransformerEncoder(2, num_layers=1, num_heads=1)
    block = encoder.blocks[0]
    for layer in (block.attention.value, block.ffn_output):
        layer.kernel.assign(tf.zeros_like(layer.kernel))
    x = tf.constant([[[1.0, 3.0], [2.0, 2.0]]])
    # attention and feed-forward add 0: LN(LN(LN(x))); [1, 3] -> [-1, 1]; [2, 2] -> [0, 0]
    out = encoder(x, tf.constant([[True, True]])).numpy()
    np.testing.assert_allclose(out, [[[-1.0, 1.0], [0.0, 0.0]]], atol=1e-4)


def test_transformer_block_component_takes_x_and_mask():
    shapes = [tf.TensorShape([None, 3, 4]), tf.TensorShape([None, 3])]
    block = TransformerBlock.from_params(
        struct_params({"hidden_size": 4, "num_attention_heads": 2, "intermediate_size": 8}),
        shapes, "block")
    x = tf.constant(np.random.default_rng(0).normal(size=[2, 3, 4]), tf.float32)
    mask = tf.constant([[1, 1, 0], [1, 1, 1]])
    np.testing.assert_allclose(block.call_block([x, mask], False, BlockContext()).numpy(),
                               block(x, tf.cast(mask, tf.bool)).numpy())
    with pytest.raises(ParamError, match="hidden_size 8 must be the input width 4"):
        TransformerBlock.from_params(struct_params({"hidden_size": 8, "num_attention_heads": 2}),
                                     shapes, "block")
