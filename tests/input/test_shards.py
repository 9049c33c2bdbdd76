"""Shares of the training input (easy_rec/input/shards.py): for one file and for several,
2 and 3 shares are disjoint and together hold every row once per epoch, whole files go to a
share when there are enough, and a share parses only its own rows (the malformed rows of the
input are counted once over all shares, not once per share)."""
from __future__ import annotations

import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.input.csv_input import CSVInput
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.shards import Shard, file_share
from easy_rec.input.tfrecord_input import TFRecordInput
from easy_rec.protos import dataset_pb2

CSV_FIELDS = """
input_type: CSVInput
ignore_error: true
input_fields { input_name: "id" input_type: INT64 }
input_fields { input_name: "label" input_type: INT32 }
"""
BAD_EVERY = 7  # every 7th row of a file is malformed (a word where a number must be)


def write_csv(tmp_path, rows_per_file: list[int]) -> tuple[str, set[int], int]:
    """Files of rows `id,label` with ids unique over all files; (glob, valid ids, bad rows)."""
    ids, bad, next_id = set(), 0, 0
    for f, count in enumerate(rows_per_file):
        lines = []
        for r in range(count):
            if r % BAD_EVERY == 3:
                lines.append(f"{next_id},oops")
                bad += 1
            else:
                lines.append(f"{next_id},{r % 2}")
                ids.add(next_id)
            next_id += 1
        (tmp_path / f"part-{f}.csv").write_text("\n".join(lines) + "\n")
    return f"{tmp_path}/part-*.csv", ids, bad


def read_share(reader, shard: Shard, **kwargs) -> tuple[list[int], int]:
    """(ids of one epoch of the share, malformed rows counted while reading it)."""
    ids, malformed = [], 0
    for batch in reader.make_dataset(4, num_epochs=1, shard=shard, **kwargs):
        malformed += int(batch[MALFORMED_KEY])
        ids += batch["id"].numpy().tolist()
    return ids, malformed


@pytest.mark.parametrize("rows_per_file,shuffle", [([50], False), ([30, 17], True)],
                         ids=["1file", "2files-shuffled"])
def test_csv_shares_are_disjoint_complete_and_parse_only_their_rows(tmp_path, rows_per_file,
                                                                    shuffle):
    path, ids, bad = write_csv(tmp_path, rows_per_file)
    data = text_format.Parse(CSV_FIELDS, dataset_pb2.DatasetConfig())
    reader = CSVInput(data, path, block_bytes=64)  # many blocks per file
    for count in (2, 3):  # 1 file: by lines; 2 files: by files for 2, by lines for 3
        seen, malformed = [], 0
        for index in range(count):
            share, share_malformed = read_share(reader, Shard(count, index), shuffle=shuffle,
                                                seed=5)
            assert share, f"share {index} of {count} is empty"
            seen += share
            malformed += share_malformed
        assert len(seen) == len(set(seen))  # disjoint
        assert set(seen) == ids  # complete
        assert malformed == bad  # each share parsed only its own rows


def test_enough_files_are_shared_whole():
    assert file_share(5, Shard(2, 1)) == [1, 3]
    assert file_share(3, Shard(3, 2)) == [2]
    assert file_share(2, Shard(3, 0)) is None  # fewer files than shares: rows are shared
    assert file_share(4, Shard()) is None
    with pytest.raises(ValueError, match="share 3 of 3"):
        file_share(4, Shard(3, 3))


def test_shares_by_file_read_whole_files_in_order(tmp_path):
    path, _, _ = write_csv(tmp_path, [10, 10, 10, 10])
    reader = CSVInput(text_format.Parse(CSV_FIELDS, dataset_pb2.DatasetConfig()), path)
    ids, _ = read_share(reader, Shard(2, 1))
    assert sorted(ids) == sorted(i for i in range(10, 20) if i % 10 % BAD_EVERY != 3) + \
        sorted(i for i in range(30, 40) if i % 10 % BAD_EVERY != 3)


@pytest.mark.parametrize("files", [1, 3])
def test_tfrecord_shares_are_disjoint_and_complete(tmp_path, files):
    data = text_format.Parse("input_type: TFRecordInput input_fields { input_name: 'id' "
                             "input_type: INT64 }", dataset_pb2.DatasetConfig())
    ids = list(range(41))
    for f in range(files):
        with tf.io.TFRecordWriter(str(tmp_path / f"p{f}.tfrecord")) as writer:
            for i in ids[f::files]:
                feature = {"id": tf.train.Feature(int64_list=tf.train.Int64List(value=[i]))}
                writer.write(tf.train.Example(features=tf.train.Features(
                    feature=feature)).SerializeToString())
    reader = TFRecordInput(data, f"{tmp_path}/p*.tfrecord")
    for count in (2, 3):
        shares = [read_share(reader, Shard(count, i), shuffle=True)[0] for i in range(count)]
        assert all(shares)
        assert sorted(sum(shares, [])) == ids
