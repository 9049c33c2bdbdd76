"""SeqAugment: each augmentation's invariants, with rates chosen so the outcome is known."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.registry import get_layer_class
from easy_rec.layers.seq_augment import SeqAugment

# two sequences of 1-D "embeddings" 1..n, lengths 4 and 2, padded (zeros) to length 5
SEQUENCE = tf.constant([[[1.0], [2.0], [3.0], [4.0], [0.0]],
                        [[1.0], [2.0], [0.0], [0.0], [0.0]]])
LENGTH = tf.constant([4, 2])


def values(sequence: tf.Tensor) -> np.ndarray:
    return sequence.numpy()[:, :, 0]


def test_mask_replaces_floor_n_times_rate_real_elements():
    layer = SeqAugment(1, mask_rate=0.5)
    layer.mask_embedding.assign([9.0])
    for _ in range(5):
        out, length = layer.mask(SEQUENCE, LENGTH)
        rows = values(out)
        assert (rows[0, :4] == 9.0).sum() == 2 and (rows[1, :2] == 9.0).sum() == 1
        assert rows[0, 4] == 0.0 and (rows[1, 2:] == 0.0).all()   # padding untouched
        kept = rows[0, :4] != 9.0
        np.testing.assert_array_equal(rows[0, :4][kept], np.arange(1.0, 5.0)[kept])
    assert length.numpy().tolist() == [4, 2]


def test_crop_keeps_a_contiguous_window_at_the_front():
    layer = SeqAugment(1, crop_rate=0.5)
    seen = set()
    for _ in range(20):
        out, length = layer.crop(SEQUENCE, LENGTH)
        rows = values(out)
        assert length.numpy().tolist() == [2, 1]
        first = rows[0, 0]
        assert rows[0, 1] == first + 1 and (rows[0, 2:] == 0).all() and first in (1, 2)
        assert rows[1, 0] == 1.0 and (rows[1, 1:] == 0).all()
        seen.add(first)
    assert seen == {1.0, 2.0}  # starts in [0, n - size), as EasyRec draws them


def test_reorder_shuffles_a_window_and_keeps_the_rest():
    full = SeqAugment(1, reorder_rate=1.0)
    for _ in range(5):
        out, length = full.reorder(SEQUENCE, LENGTH)
        rows = values(out)
        assert sorted(rows[0, :4]) == [1, 2, 3, 4] and rows[0, 4] == 0
        assert sorted(rows[1, :2]) == [1, 2] and length.numpy().tolist() == [4, 2]
    none = SeqAugment(1, reorder_rate=0.0)
    np.testing.assert_array_equal(values(none.reorder(SEQUENCE, LENGTH)[0]), values(SEQUENCE))
    half = SeqAugment(1, reorder_rate=0.5)
    for _ in range(10):
        rows = values(half.reorder(SEQUENCE, LENGTH)[0])
        moved = np.flatnonzero(rows[0] != values(SEQUENCE)[0])
        assert len(moved) in (0, 2) and (len(moved) == 0 or moved[1] - moved[0] == 1)


def test_each_row_gets_one_of_the_three_augmentations():
    layer = SeqAugment(1, mask_rate=1.0, crop_rate=0.5, reorder_rate=1.0)
    layer.mask_embedding.assign([9.0])
    kinds = set()
    for _ in range(30):
        out, length = layer([SEQUENCE, LENGTH])
        row, n = values(out)[0], int(length[0])
        if n == 2:
            kinds.add("crop")
        elif (row[:4] == 9.0).all():
            kinds.add("mask")
        else:
            assert sorted(row[:4]) == [1, 2, 3, 4]
            kinds.add("reorder")
    assert kinds == {"crop", "mask", "reorder"}


def test_from_params_and_registry_names():
    assert get_layer_class("SeqAugment") is SeqAugment
    assert get_layer_class("SeqAugmentOps") is SeqAugment
    shapes = [tf.TensorShape([None, 5, 3]), tf.TensorShape([None])]
    layer = SeqAugment.from_params(struct_params({"mask_rate": 0.3}), shapes, "aug")
    assert layer.mask_embedding.shape == (3,)
    out, length = layer([tf.ones([2, 5, 3]), tf.constant([5, 3])])
    assert out.shape == (2, 5, 3) and length.dtype == tf.int32
    with pytest.raises(ValueError, match="crop_rate"):
        SeqAugment(3, crop_rate=1.5)


def test_typed_params_message():
    from easy_rec.layers.component import Params
    from easy_rec.protos import seq_encoder_pb2

    shapes = [tf.TensorShape([None, 5, 3]), tf.TensorShape([None])]
    layer = SeqAugment.from_params(Params(seq_encoder_pb2.SequenceAugment(mask_rate=0.3)),
                                   shapes, "aug")
    assert (layer._mask_rate, layer._crop_rate, layer._reorder_rate) == (
        pytest.approx(0.3), 0.2, 0.6)
