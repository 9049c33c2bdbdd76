"""Tables split over parameter servers: only EmbeddingTable weights are partitioned, and the
optimizer's slots of a table's shards are saved as one whole slot under the table's name."""
from __future__ import annotations

import numpy as np
import tensorflow as tf
from tensorflow.python.distribute.sharded_variable import ShardedVariable

from easy_rec.distribute.ps_trainer import TablePartitioner
from easy_rec.layers.embedding import CREATING_TABLE
from easy_rec.training.optimization.optimizers import Adagrad


def test_partitioner_splits_tables_only() -> None:
    partitioner = TablePartitioner(2)
    shape = tf.TensorShape([100, 8])
    assert partitioner(shape, tf.float32) == [1, 1]
    token = CREATING_TABLE.set(True)
    try:
        assert partitioner(shape, tf.float32) == [2, 1]
        assert partitioner(tf.TensorShape([1, 8]), tf.float32) == [1, 1]  # fewer rows than ps
    finally:
        CREATING_TABLE.reset(token)


def test_slots_of_shards_saved_whole_and_updated_sparsely(tmp_path) -> None:
    shards = [tf.Variable(tf.ones([3, 2]), name="table/weights/part_0"),
              tf.Variable(tf.ones([2, 2]), name="table/weights/part_1")]
    table = ShardedVariable(shards)
    optimizer = Adagrad(0.1, initial_accumulator_value=0.5)
    optimizer.build(shards)
    # a gradient for row 1 of the second shard (row 4 of the table)
    grad = tf.IndexedSlices(tf.constant([[1.0, 1.0]]), tf.constant([1]), tf.constant([2, 2]))
    optimizer.apply_gradients([(grad, shards[1])])
    accumulator = optimizer.slots(shards[1])["accumulator"]
    np.testing.assert_allclose(accumulator.numpy(), [[0.5, 0.5], [1.5, 1.5]])
    assert np.all(optimizer.slots(shards[0])["accumulator"].numpy() == 0.5)
    path = tf.train.Checkpoint(table=table, optimizer=optimizer).save(str(tmp_path / "ckpt"))
    saved = dict(tf.train.list_variables(path))
    slot = [k for k in saved if "_slot_variables" in k and "accumulator" in k]
    assert slot == ["optimizer/_slot_variables/table.Sweights/accumulator/.ATTRIBUTES/VARIABLE_VALUE"]
    assert saved[slot[0]] == [5, 2]
    whole = tf.train.load_variable(path, slot[0])
    np.testing.assert_allclose(whole[4], [1.5, 1.5])
    np.testing.assert_allclose(whole[:4], 0.5)
