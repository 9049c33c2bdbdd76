"""DummyInput: constant batches of the fields' default values, without files."""
from __future__ import annotations

import os

import tensorflow as tf
from conftest import SAMPLES
from google.protobuf import text_format
from pipeline_helpers import train

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.reader import build_reader
from easy_rec.pipeline import load_pipeline_config
from easy_rec.protos import dataset_pb2

DATA = """
input_type: DummyInput
input_fields { input_name: "label" input_type: INT32 default_val: "1" }
input_fields { input_name: "uid" input_type: STRING default_val: "u7" }
input_fields { input_name: "price" input_type: FLOAT }
input_fields { input_name: "hot" input_type: BOOL default_val: "true" }
input_fields { input_name: "unused" input_type: INT64 }
label_fields: "label"
"""


def test_batches_hold_the_defaults_and_no_file_is_read():
    config = text_format.Parse(DATA, dataset_pb2.DatasetConfig())
    plan = ColumnPlan((), ("label", "uid", "price", "hot"), None, (), (), {}, {})
    reader = build_reader(config, "/no/such/file.csv", plan)
    reader.check_head("training")
    assert reader.output_signature["price"] == tf.TensorSpec([None], tf.float32, name="price")
    batches = list(reader.make_dataset(3, num_epochs=2, shuffle=True))
    assert len(batches) == 2  # one batch per epoch
    batch = batches[0]
    assert set(batch) == {"label", "uid", "price", "hot", MALFORMED_KEY}
    assert batch["label"].numpy().tolist() == [1, 1, 1]
    assert batch["uid"].numpy().tolist() == [b"u7"] * 3
    assert batch["price"].numpy().tolist() == [0.0] * 3
    assert batch["hot"].numpy().tolist() == [True] * 3
    assert int(batch[MALFORMED_KEY]) == 0


def test_sample_trains_on_dummy_input_without_a_path(tmp_path):
    path = os.path.join(SAMPLES, "options", "dnn_dummy_input.config")
    config = load_pipeline_config(path, {
        "model_dir": str(tmp_path / "m"), "data_config.batch_size": 16,
        "train_config.num_steps": 5, "export_config.exporter_type": "none"}).config
    assert not config.HasField("train_input_path")
    trainer, _ = train(config)
    assert int(trainer.global_step) == 5


def test_no_epoch_count_repeats_without_end():
    config = text_format.Parse(DATA, dataset_pb2.DatasetConfig())
    plan = ColumnPlan((), ("label",), None, (), (), {}, {})
    batches = build_reader(config, "", plan).make_dataset(2, num_epochs=None).take(50)
    assert sum(1 for _ in batches) == 50
