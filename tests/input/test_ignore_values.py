"""input_fields[].ignore_val: cells equal to it are read as missing, for every reader."""
from __future__ import annotations

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.config.errors import ConfigError
from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.ignore_values import apply_rules
from easy_rec.input.reader import build_reader
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.protos import dataset_pb2

FIELDS = """
input_fields { input_name: "label" input_type: INT32 }
input_fields { input_name: "age" input_type: INT64 default_val: "30" ignore_val: "-1" }
input_fields { input_name: "city" input_type: STRING ignore_val: "NULL" }
input_fields { input_name: "price" input_type: FLOAT ignore_val: "-1" }
input_fields { input_name: "tags" input_type: STRING ignore_val: "none" }
label_fields: "label"
"""
PLAN = ColumnPlan((), ("label", "age", "city", "price", "tags"), None, (), (), {}, {})


def read(input_type: str, path: str) -> dict:
    config = text_format.Parse(f"input_type: {input_type}" + FIELDS, dataset_pb2.DatasetConfig())
    return next(iter(build_reader(config, path, PLAN).make_dataset(8)))


def test_csv_cells_equal_to_ignore_val_take_the_default(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("1,-1,NULL,-1.0,a|none\n0,5,rome,2.5,none\n1,,,,\n")
    batch = read("CSVInput", str(path))
    assert batch["age"].numpy().tolist() == [30, 5, 30]     # -1 -> default_val, like empty
    assert batch["city"].numpy().tolist() == [b"", b"rome", b""]
    assert batch["price"].numpy().tolist() == [0.0, 2.5, 0.0]  # "-1.0" equals -1 as a FLOAT
    assert batch["tags"].numpy().tolist() == [b"a|none", b"", b""]  # the whole cell is compared
    assert batch["label"].numpy().tolist() == [1, 0, 1]


def test_parquet_list_items_equal_to_ignore_val_are_dropped(tmp_path):
    path = str(tmp_path / "a.parquet")
    pq.write_table(pa.table({
        "label": pa.array([1, 0], pa.int32()), "age": pa.array([-1, 4], pa.int64()),
        "city": ["NULL", "oslo"], "price": pa.array([1.0, -1.0], pa.float32()),
        "tags": pa.array([["a", "none", "b"], ["none"]], pa.list_(pa.string()))}), path)
    batch = read("ParquetInput", path)
    assert batch["age"].numpy().tolist() == [30, 4]
    assert batch["city"].numpy().tolist() == [b"", b"oslo"]
    assert batch["price"].numpy().tolist() == [1.0, 0.0]
    assert batch["tags"].to_list() == [[b"a", b"b"], []]


def test_apply_rules_leaves_other_columns():
    rules = {"x": (tf.constant(0, tf.int64), tf.constant(9, tf.int64))}
    out = apply_rules({"x": tf.constant([0, 1], tf.int64), "y": tf.constant([0, 0])}, rules)
    assert out["x"].numpy().tolist() == [9, 1] and out["y"].numpy().tolist() == [0, 0]


PIPELINE = """
model_dir: "exp"
train_input_path: "x.csv"
data_config {{
  input_type: CSVInput
  input_fields {{ input_name: "label" input_type: INT32 }}
  input_fields {{ input_name: "age" input_type: INT64 {age} }}
  label_fields: "label"
}}
feature_config {{ features {{ input_names: "age" feature_type: IdFeature embedding_dim: 4
  hash_bucket_size: 10 }} }}
model_config {{
  model_class: "DNN"
  feature_groups {{ group_name: "all" feature_names: "age" wide_deep: DEEP }}
  dnn {{ dnn {{ hidden_units: [4] }} }}
}}
train_config {{ optimizer_config {{ adam_optimizer {{ learning_rate {{
  constant_learning_rate {{ learning_rate: 0.01 }} }} }} }} }}
"""


def test_ignore_val_of_another_type_is_a_config_error():
    with pytest.raises(ConfigError, match="ignore_val 'n/a' of input field 'age' is not a valid "
                                          "INT64") as info:
        parse_pipeline_config_text(PIPELINE.format(age='ignore_val: "n/a"'), "p.config")
    assert info.value.field == "data_config.input_fields[1].ignore_val"
    parse_pipeline_config_text(PIPELINE.format(age='ignore_val: "-1"'), "p.config")
    parse_pipeline_config_text(PIPELINE.format(age='ignore_val: ""'), "p.config")  # no effect
