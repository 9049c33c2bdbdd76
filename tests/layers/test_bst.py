"""BST component: target placement, masking by length, first-position or flattened output."""
from __future__ import annotations

import numpy as np
import tensorflow as tf

from easy_rec.layers.bst import BST
from easy_rec.layers.component import Params
from easy_rec.protos import seq_encoder_pb2

SHAPES = (tf.TensorShape([None, 3, 4]), tf.TensorShape([None]), tf.TensorShape([None, 4]))


def encoder(**fields) -> seq_encoder_pb2.BSTEncoder:
    return seq_encoder_pb2.BSTEncoder(hidden_size=8, num_hidden_layers=1, num_attention_heads=2,
                                      intermediate_size=8, max_position_embeddings=3,
                                      hidden_dropout_prob=0.0, **fields)


def inputs(sequence: np.ndarray) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    return (tf.constant(sequence, tf.float32), tf.constant([1, 3]),
            tf.constant(np.ones([2, 4]), tf.float32))


def test_first_position_output_ignores_padding():
    bst = BST.from_params(Params(encoder(output_all_token_embeddings=False), "bst"), SHAPES, "bst")
    assert bst.projection is not None and bst.target_projection is not None
    assert bst.positions.num_positions == 4  # 3 behaviours + the target
    sequence = np.random.default_rng(0).normal(size=[2, 3, 4])
    out = bst(inputs(sequence)).numpy()
    assert out.shape == (2, 8)
    changed = sequence.copy()
    changed[0, 1:] = 9.0  # padding of row 0 (length 1)
    np.testing.assert_allclose(bst(inputs(changed)).numpy()[0], out[0], rtol=1e-5, atol=1e-6)
    changed[0, 0] = 9.0  # its real element
    assert not np.allclose(bst(inputs(changed)).numpy()[0], out[0])


def test_all_token_output_is_flattened_over_max_positions():
    bst = BST.from_params(Params(encoder(), "bst"), SHAPES, "bst")
    assert bst(inputs(np.zeros([2, 3, 4]))).shape == (2, 4 * 8)
    tail = BST.from_params(Params(encoder(target_item_position="ignore",
                                          reserve_target_position=False), "bst"), SHAPES, "bst")
    assert tail.target_position == "ignore" and tail(inputs(np.zeros([2, 3, 4]))).shape == (2, 24)
