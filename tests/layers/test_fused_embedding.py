"""EasyRec's EmbeddingLayer: one shared table, per-feature ids, combiners, by hand."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.layers.component import struct_params
from easy_rec.layers.fused_embedding import FusedEmbedding

ROWS = [[1.0, 0.0], [0.0, 2.0], [3.0, 4.0], [-1.0, 5.0]]


def layer(combiner: str = "weight", concat: bool = True) -> FusedEmbedding:
    fused = FusedEmbedding(4, 2, combiner, concat)
    fused.embeddings.assign(ROWS)
    return fused


IDS = [tf.constant([3, 0], tf.int64),                                 # one id per row
       tf.ragged.constant([[0, 1], [2], []], dtype=tf.int64)[:2],    # several ids
       tf.constant([[1, 2], [3, 3]], tf.int64)]                       # n = 2 per row
WEIGHTS = [None, tf.ragged.constant([[1.0, 3.0], [2.0]]), None]


@pytest.mark.parametrize("combiner, multi", [
    # ragged row 0: ids 0, 1 weighted 1, 3; row 1: id 2 weighted 2. dense: ids (1, 2), (3, 3)
    ("weight", [[[0.25, 1.5], [3, 4]], [[1.5, 3], [-1, 5]]]),      # (1*e0 + 3*e1) / 4
    ("mean", [[[0.5, 1], [3, 4]], [[1.5, 3], [-1, 5]]]),           # weights ignored
    ("sum", [[[1, 6], [6, 8]], [[3, 6], [-2, 10]]]),
    ("max", [[[1, 2], [3, 4]], [[3, 4], [-1, 5]]]),
    ("min", [[[0, 0], [3, 4]], [[0, 2], [-1, 5]]]),
])
def test_each_feature_reads_its_rows_and_combines_them(combiner, multi):
    out = layer(combiner)((IDS, WEIGHTS))
    expected = np.concatenate([[[-1, 5], [1, 0]], *[np.array(m, np.float32) for m in multi]],
                              axis=1)
    assert out.shape == [2, 6]
    np.testing.assert_allclose(out.numpy(), expected, rtol=1e-6)


def test_empty_rows_give_zero_and_lists_without_concat():
    ids = [tf.ragged.constant([[], [1]], dtype=tf.int64)]
    for combiner in ("weight", "max"):
        out = layer(combiner, concat=False)((ids, [None]))
        assert isinstance(out, list) and out[0].numpy().tolist() == [[0, 0], [0, 2]]


def test_params_and_errors():
    fused = FusedEmbedding.from_params(struct_params(
        {"vocab_size": 10, "embedding_dim": 3, "combiner": "sum"}), None, "e")
    assert fused.embeddings.shape == [10, 3] and fused.combiner == "sum" and fused.concat
    assert np.abs(fused.embeddings.numpy()).max() <= 0.05
    with pytest.raises(ValueError, match="combiner must be one of"):
        FusedEmbedding(4, 2, "sqrtn")
    with pytest.raises(ValueError, match="vocab_size"):
        FusedEmbedding.from_params(struct_params({"embedding_dim": 3}), None, "e")
