"""TFRecordInput (tf.train.Example records) and BatchTFRecordInput (SequenceExamples of n
rows), compressed or not, and training from the TFRecord sample."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES
from google.protobuf import text_format

from easy_rec.input.empty_input import EmptyInputError
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.tfrecord_input import BatchTFRecordInput, TFRecordInput
from easy_rec.pipeline import load_pipeline_config
from easy_rec.protos import dataset_pb2

DATA_CONFIG = """
input_type: TFRecordInput
input_fields { input_name: "label" input_type: INT32 }
input_fields { input_name: "uid" input_type: INT64 }
input_fields { input_name: "tags" input_type: STRING default_val: "none" }
input_fields { input_name: "price" input_type: DOUBLE default_val: "1.5" }
input_fields { input_name: "flag" input_type: BOOL default_val: "" }
"""


def _data_config(**fields) -> dataset_pb2.DatasetConfig:
    config = text_format.Parse(DATA_CONFIG, dataset_pb2.DatasetConfig())
    for key, value in fields.items():
        setattr(config, key, value)
    return config


def _feature(values):
    if isinstance(values[0], bytes):
        return tf.train.Feature(bytes_list=tf.train.BytesList(value=values))
    if isinstance(values[0], float):
        return tf.train.Feature(float_list=tf.train.FloatList(value=values))
    return tf.train.Feature(int64_list=tf.train.Int64List(value=values))


ROWS = [  # (label, uid, tags / price / flag or None: missing)
    (1, 10, b"a|b", 2.25, 1), (0, 11, None, None, None), (1, 12, b"c", 0.5, 1),
    (0, 13, b"d", 4.0, 0), (1, 14, b"e|f", None, 1)]


def _example(row) -> bytes:
    names = ("label", "uid", "tags", "price", "flag")
    feature = {n: _feature([v]) for n, v in zip(names, row) if v is not None}
    return tf.train.Example(features=tf.train.Features(feature=feature)).SerializeToString()


def _write(path, records, compression="") -> str:
    with tf.io.TFRecordWriter(str(path), tf.io.TFRecordOptions(compression_type=compression)) as w:
        for record in records:
            w.write(record)
    return str(path)


@pytest.mark.parametrize("compression", ["", "GZIP"])
def test_examples_are_read_with_defaults_and_types(tmp_path, compression):
    path = _write(tmp_path / "a.tfrecord", [_example(r) for r in ROWS], compression)
    reader = TFRecordInput(_data_config(data_compression_type=compression), path)
    reader.check_head("training")
    batches = list(reader.make_dataset(2, num_epochs=1))
    assert [int(tf.size(b["uid"])) for b in batches] == [2, 2, 1]
    merged = {k: np.concatenate([b[k].numpy() for b in batches]) for k in reader.output_signature}
    assert merged["uid"].tolist() == [10, 11, 12, 13, 14]
    assert merged["tags"].tolist() == [b"a|b", b"none", b"c", b"d", b"e|f"]
    assert merged["price"].tolist() == [2.25, 1.5, 0.5, 4.0, 1.5]
    assert merged["flag"].tolist() == [True, False, True, False, True]  # missing: "" -> false
    assert batches[0]["label"].dtype == tf.int32 and batches[0]["price"].dtype == tf.float64
    assert int(batches[0][MALFORMED_KEY]) == 0
    dropped = list(reader.make_dataset(2, num_epochs=1, drop_remainder=True))
    assert [int(tf.size(b["uid"])) for b in dropped] == [2, 2]


def test_sequence_examples_hold_several_rows(tmp_path):
    def record(rows):
        names = ("label", "uid", "tags", "price", "flag")
        lists = {n: tf.train.FeatureList(feature=[_feature([r[i]]) for r in rows])
                 for i, n in enumerate(names)}
        return tf.train.SequenceExample(
            feature_lists=tf.train.FeatureLists(feature_list=lists)).SerializeToString()

    full = [(r[0], r[1], r[2] or b"x", r[3] or 0.0, r[4] or 0) for r in ROWS]
    path = _write(tmp_path / "b.tfrecord", [record(full[:3]), record(full[3:])])
    config = _data_config(n_data_batch_tfrecord=3)
    config.input_type = config.BatchTFRecordInput
    batches = list(BatchTFRecordInput(config, path).make_dataset(4, num_epochs=1))
    assert [b["uid"].numpy().tolist() for b in batches] == [[10, 11, 12, 13], [14]]


def test_empty_file_is_reported(tmp_path):
    path = _write(tmp_path / "empty.tfrecord", [])
    with pytest.raises(EmptyInputError, match="no training rows"):
        TFRecordInput(_data_config(), path).check_head("training")


def test_tfrecord_sample_trains(tmp_path):
    config = load_pipeline_config(os.path.join(SAMPLES, "deepfm_on_tfrecord.config"), {
        "model_dir": str(tmp_path / "m"), "train_config.num_steps": 3,
        "data_config.batch_size": 64, "eval_config.num_examples": 256,
        "export_config.exporter_type": "none"}).config
    from easy_rec.training.trainer import Trainer

    trainer = Trainer(config, base_dir=SAMPLES)
    results = trainer.train()
    assert int(trainer.global_step) == 3 and np.isfinite(results["auc"])
