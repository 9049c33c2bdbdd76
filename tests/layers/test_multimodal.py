"""Segment embeddings and the cross-modal tower of CMBF / UNITER against numpy."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.multimodal import CrossModalBlock, CrossModalTower, SegmentEmbedding
from layers.layer_helpers import dense, layer_norm, randomize, relu
from layers.test_attention import attention_reference


def test_segment_embedding_adds_type_and_positions_then_normalises():
    segment = SegmentEmbedding(2, max_positions=3, dropout_ratio=0.5)
    segment.positions.weights.assign([[1.0, 0.0], [0.0, 2.0], [5.0, 5.0]])
    x = tf.constant([[[1.0, 1.0], [3.0, 0.0]]])
    out = segment(x, token_type=tf.constant([0.0, 1.0])).numpy()
    # [1, 1] + [0, 1] + [1, 0] = [2, 2] -> [0, 0]; [3, 0] + [0, 1] + [0, 2] = [3, 3] -> [0, 0]
    np.testing.assert_allclose(out, [[[0.0, 0.0], [0.0, 0.0]]], atol=1e-5)
    y = tf.constant([[[1.0, 3.0], [2.0, 0.0]]])
    # [1, 3] + [1, 0] = [2, 3] -> [-1, 1]; [2, 0] + [0, 2] = [2, 2] -> [0, 0]
    np.testing.assert_allclose(segment(y).numpy(), [[[-1.0, 1.0], [0.0, 0.0]]], atol=1e-5)
    assert not np.allclose(segment(y, training=True).numpy(), segment(y).numpy())


def block_reference(block: CrossModalBlock, q: np.ndarray, m: np.ndarray) -> np.ndarray:
    cross = attention_reference_memory(block.cross, q, m)
    attended = attention_reference(block.self_attention, cross)
    a = layer_norm(cross + attended, block.attention_norm, 1e-12)
    hidden = relu(dense(a, block.ffn_hidden))
    return layer_norm(a + dense(hidden, block.ffn_output), block.ffn_norm, 1e-12)


def attention_reference_memory(att, q: np.ndarray, m: np.ndarray) -> np.ndarray:
    """attention_reference with keys and values from the memory."""
    queries = q @ att.query.kernel.numpy()
    keys, values = m @ att.key.kernel.numpy(), m @ att.value.kernel.numpy()
    heads = []
    for h in range(att.num_heads):
        cols = slice(h * att.head_dim, (h + 1) * att.head_dim)
        scores = queries[..., cols] @ np.swapaxes(keys[..., cols], 1, 2) / np.sqrt(att.head_dim)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        heads.append(weights / weights.sum(axis=-1, keepdims=True) @ values[..., cols])
    return np.concatenate(heads, axis=-1)


def test_cross_modal_block_matches_numpy():
    rng = np.random.default_rng(3)
    q = rng.normal(size=(2, 3, 5)).astype(np.float32)
    m = rng.normal(size=(2, 4, 6)).astype(np.float32)
    block = CrossModalBlock(5, 6, num_heads=2, head_dim=3, intermediate_size=7)
    randomize(block)
    out = block(tf.constant(q), tf.constant(m)).numpy()
    assert out.shape == (2, 3, 6) and block.output_dim == 6
    np.testing.assert_allclose(out, block_reference(block, q, m), rtol=1e-4, atol=1e-4)


def test_cross_modal_tower_ignores_padded_memory():
    rng = np.random.default_rng(4)
    image = tf.constant(rng.normal(size=(2, 3, 4)).astype(np.float32))
    text = rng.normal(size=(2, 5, 6)).astype(np.float32)
    text_mask = tf.sequence_mask([2, 5], 5)
    tower = CrossModalTower(4, 6, num_layers=2, num_heads=2, left_head_dim=2, right_head_dim=3)
    randomize(tower)
    left, right = tower(image, tf.constant(text), None, text_mask)
    assert left.shape == (2, 3, 4) and right.shape == (2, 5, 6)
    noisy = text.copy()
    noisy[0, 2:] = 100.0
    left2, right2 = tower(image, tf.constant(noisy), None, text_mask)
    np.testing.assert_allclose(left2.numpy(), left.numpy(), rtol=1e-4, atol=1e-4)
    np.testing.assert_allclose(right2.numpy()[0, :2], right.numpy()[0, :2], rtol=1e-4, atol=1e-4)
