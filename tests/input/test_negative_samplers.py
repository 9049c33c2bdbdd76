"""EasyRec's negative samplers on local tables: weights, distinct draws outside the batch,
draws avoiding a user's positive edges, and each user's hard negatives."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.input.negative_sampler import NegativeSampler
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError

FIELDS = """
input_type: CSVInput
batch_size: 2
input_fields { input_name: "user_id" input_type: INT64 }
input_fields { input_name: "item_id" input_type: INT64 }
input_fields { input_name: "cat" input_type: STRING }
"""
ITEMS = [(100, 0.0, "a"), (101, 1.0, "b"), (102, 1.0, "c"), (103, 2.0, "d")]


def _tables(tmp_path) -> dict[str, str]:
    items = tmp_path / "items.txt"
    items.write_text("id:int64\tweight:float\tfeature:string\n" + "".join(
        f"{i}\t{w}\t{i}:{c}\n" for i, w, c in ITEMS), encoding="utf-8")
    (tmp_path / "users.txt").write_text("id:int64\tweight:float\n7\t1\n8\t1\n", encoding="utf-8")
    # user 7 clicked 101 and 102; user 8's hard negatives: 103, 101, 102 (file order)
    (tmp_path / "pos.txt").write_text("userid:int64\titemid:int64\tweight:float\n"
                                      "7\t101\t1\n7\t102\t1\n", encoding="utf-8")
    (tmp_path / "hard.txt").write_text("8\t103\t1\n8\t101\t1\n8\t102\t1\n7\t999\t1\n",
                                       encoding="utf-8")
    return {name: str(tmp_path / f"{name}.txt") for name in ("items", "users", "pos", "hard")}


def _sampler(tmp_path, kind: str, **settings) -> NegativeSampler:
    paths = _tables(tmp_path)
    data = text_format.Parse(FIELDS, dataset_pb2.DatasetConfig())
    block = getattr(data, kind)
    block.attr_fields.extend(["item_id", "cat"])
    block.item_id_field = "item_id"
    if kind in ("negative_sampler", "negative_sampler_in_memory"):
        block.input_path = paths["items"]
    else:
        block.item_input_path, block.user_input_path = paths["items"], paths["users"]
        block.user_id_field = "user_id"
    if kind in ("negative_sampler_v2", "hard_negative_sampler_v2"):
        block.pos_edge_input_path = paths["pos"]
    if kind.startswith("hard"):
        block.hard_neg_edge_input_path = paths["hard"]
    for key, value in settings.items():
        setattr(block, key, value)
    return NegativeSampler.from_data_config(data)


BATCH = {"user_id": tf.constant([7, 8], tf.int64), "item_id": tf.constant([101, 103], tf.int64)}


def test_negative_sampler_draws_by_weight(tmp_path):
    tf.random.set_seed(1)
    sampler = _sampler(tmp_path, "negative_sampler", num_sample=4000)
    drawn = sampler.draw(BATCH, training=True).items
    counts = {i: int(np.sum(drawn["item_id"].numpy() == i)) for i, _, _ in ITEMS}
    assert counts[100] == 0  # weight 0
    assert counts[103] / counts[101] == pytest.approx(2.0, rel=0.15)
    assert drawn["cat"].numpy()[drawn["item_id"].numpy() == 102][0] == b"c"


def test_in_memory_sampler_draws_distinct_items_outside_the_batch(tmp_path):
    sampler = _sampler(tmp_path, "negative_sampler_in_memory", num_sample=2,
                       num_eval_sample=5)
    for _ in range(5):
        ids = sampler.draw(BATCH, training=True).items["item_id"].numpy().tolist()
        assert sorted(ids) == [100, 102]  # 101 and 103 are the batch's items
    assert len(sampler.draw(BATCH, training=False).items["item_id"]) == 2  # all that is left


def test_v2_sampler_avoids_the_users_positive_items(tmp_path):
    tf.random.set_seed(2)
    sampler = _sampler(tmp_path, "negative_sampler_v2", num_sample=2)
    for _ in range(20):
        ids = sampler.draw(BATCH, training=True).items["item_id"].numpy()
        assert ids.shape == (2,)  # ceil(2 / batch 2) = 1 per row: user 7's first, then 8's
        assert ids[0] not in (101, 102)


def test_hard_sampler_adds_each_users_hard_negatives(tmp_path):
    sampler = _sampler(tmp_path, "hard_negative_sampler", num_sample=3, num_hard_sample=2)
    drawn = sampler.draw(BATCH, training=True)
    assert drawn.items["item_id"].shape == (3,)
    # user 7's only hard edge names an unknown item (skipped); user 8 keeps its first two
    assert drawn.hard_items["item_id"].numpy().tolist() == [103, 101]
    assert drawn.hard_indices.numpy().tolist() == [[1, 0], [1, 1]]
    assert sampler.hard_width == 2


def test_string_user_ids_read_as_integers(tmp_path):
    """A STRING user id column holding decimal ids finds its edges (graph-learn's int64 ids)."""
    sampler = _sampler(tmp_path, "hard_negative_sampler", num_sample=3, num_hard_sample=2)
    batch = dict(BATCH, user_id=tf.constant(["7", "8"]))
    assert sampler.draw(batch, training=True).hard_items["item_id"].numpy().tolist() == [103, 101]


def test_hard_sampler_v2_combines_both(tmp_path):
    sampler = _sampler(tmp_path, "hard_negative_sampler_v2", num_sample=2, num_hard_sample=5)
    drawn = sampler.draw(BATCH, training=True)
    assert drawn.items["item_id"].numpy()[0] not in (101, 102)
    assert drawn.hard_items["item_id"].numpy().tolist() == [103, 101, 102]


def test_bad_edge_table_names_its_line(tmp_path):
    sampler = _sampler(tmp_path, "negative_sampler_v2", num_sample=2)
    (tmp_path / "pos.txt").write_text("7\t101\t1\n7\tx\t1\n", encoding="utf-8")
    with pytest.raises(InputError, match=r"pos.txt:2: item id 'x' is not an integer"):
        sampler.draw(BATCH, training=True)
