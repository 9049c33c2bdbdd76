"""Multi-head self-attention and AutoInt's interacting layer against numpy."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.attention import InteractingLayer, MultiHeadAttention, MultiHeadSelfAttention
from easy_rec.layers.component import BlockContext, struct_params
from layers.layer_helpers import randomize, tree_kernels


# -- multi-head self-attention ---------------------------------------------------------------
def attention_reference(att: MultiHeadSelfAttention, x: np.ndarray) -> np.ndarray:
    q, k, v = (x @ layer.kernel.numpy() for layer in (att.query, att.key, att.value))
    heads = []
    for h in range(att.num_heads):
        cols = slice(h * att.head_dim, (h + 1) * att.head_dim)
        scores = q[..., cols] @ np.swapaxes(k[..., cols], 1, 2) / np.sqrt(att.head_dim)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        heads.append(weights @ v[..., cols])
    out = np.concatenate(heads, axis=-1)
    if att.projection is not None:
        out = out @ att.projection.kernel.numpy() + att.projection.bias.numpy()
    return out


@pytest.mark.parametrize("output_dim", [None, 5])
def test_multi_head_self_attention_matches_numpy(output_dim):
    x = np.random.default_rng(5).normal(size=(2, 4, 6)).astype(np.float32)
    att = MultiHeadSelfAttention(6, num_heads=2, head_dim=3, output_dim=output_dim)
    randomize(att)
    out = att(tf.constant(x)).numpy()
    assert out.shape == (2, 4, output_dim or 6) and att.output_dim == (output_dim or 6)
    np.testing.assert_allclose(out, attention_reference(att, x), rtol=1e-4, atol=1e-5)


def test_attention_mask_ignores_padding():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 5, 6)).astype(np.float32)
    mask = tf.constant([[True, True, True, False, False], [False] * 5])
    att = MultiHeadSelfAttention(6, num_heads=2, head_dim=4, output_dim=6)
    randomize(att)
    out = att(tf.constant(x), mask).numpy()
    # valid positions see only valid positions: same as attention over the unpadded prefix
    np.testing.assert_allclose(out[0, :3], att(tf.constant(x[:1, :3]))[0].numpy(),
                               rtol=1e-4, atol=1e-5)
    changed = x.copy()
    changed[0, 3:] = rng.normal(size=(2, 6)) * 100
    np.testing.assert_allclose(att(tf.constant(changed), mask).numpy()[0, :3], out[0, :3],
                               rtol=1e-4, atol=1e-5)
    assert np.all(out[0, 3:] == 0) and np.all(out[1] == 0)  # padding and all-padding rows
    assert np.isfinite(out).all()


def test_interacting_layer_is_relu_of_attention_plus_residual():
    x = tf.constant(np.random.default_rng(7).normal(size=(2, 3, 4)).astype(np.float32))
    layer = InteractingLayer(4, num_heads=2, head_dim=5)
    randomize(layer)
    out = layer(x).numpy()
    expected = np.maximum(layer.attention(x).numpy() + x.numpy() @ layer.residual.kernel.numpy(), 0)
    assert out.shape == (2, 3, 10)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert len(tree_kernels(layer)) == 4


def test_cross_attention_reads_keys_and_values_from_the_memory():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(2, 3, 4)).astype(np.float32)
    memory = rng.normal(size=(2, 5, 6)).astype(np.float32)
    att = MultiHeadSelfAttention(4, num_heads=2, head_dim=3, memory_dim=6, attention_dropout=0.5)
    randomize(att)
    mask = tf.sequence_mask([5, 2], 5)
    out = att(tf.constant(x), memory=tf.constant(memory), memory_mask=mask).numpy()
    for row, length in enumerate([5, 2]):
        queries = x[row:row + 1] @ att.query.kernel.numpy()
        keys = memory[row:row + 1, :length] @ att.key.kernel.numpy()
        values = memory[row:row + 1, :length] @ att.value.kernel.numpy()
        heads = []
        for h in range(2):
            cols = slice(3 * h, 3 * h + 3)
            scores = queries[..., cols] @ np.swapaxes(keys[..., cols], 1, 2) / np.sqrt(3)
            weights = np.exp(scores) / np.exp(scores).sum(-1, keepdims=True)
            heads.append(weights @ values[..., cols])
        np.testing.assert_allclose(out[row:row + 1], np.concatenate(heads, -1), rtol=1e-4,
                                   atol=1e-5)
    # attention dropout only in training
    trained = att(tf.constant(x), memory=tf.constant(memory), memory_mask=mask, training=True)
    assert not np.allclose(trained.numpy(), out)


def test_multi_head_attention_component_attends_from_query_to_value():
    shapes = [tf.TensorShape([None, 2, 4]), tf.TensorShape([None, 3, 6])]
    mha = MultiHeadAttention.from_params(struct_params({"num_heads": 2, "key_dim": 3}), shapes,
                                         "mha")
    assert mha.key.kernel.shape == (6, 6) and mha.projection.units == 4
    query, value = tf.ones([1, 2, 4]), tf.constant(np.random.default_rng(0).normal(size=[1, 3, 6]),
                                                   tf.float32)
    out = mha.call_block([query, value], False, BlockContext())
    # equal queries attend identically: both positions get the same output
    np.testing.assert_allclose(out[0, 0].numpy(), out[0, 1].numpy(), rtol=1e-6)
    # one value position: every query reads exactly it (softmax over one key)
    single = value[:, :1]
    expected = mha.projection(mha.value(single))
    got = mha(query, memory=single)
    np.testing.assert_allclose(got[0, 0].numpy(), expected[0, 0].numpy(), rtol=1e-5)
