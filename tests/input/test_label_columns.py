"""data_config.label_dim / label_sep: wide label columns split into [batch, width] floats."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.config.errors import ConfigError
from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.label_columns import label_widths, split_label
from easy_rec.input.reader import build_reader
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.protos import dataset_pb2

DATA = """
input_type: CSVInput separator: ","
input_fields { input_name: "label" input_type: INT32 }
input_fields { input_name: "soft" input_type: STRING }
input_fields { input_name: "bits" input_type: STRING }
label_fields: ["label", "soft", "bits"]
label_dim: [1, 3]
label_sep: ["", "|"]
"""


def data_config(text: str = DATA) -> dataset_pb2.DatasetConfig:
    return text_format.Parse(text, dataset_pb2.DatasetConfig())


def test_split_label_hand_computed():
    got = split_label(tf.constant(["0.1|0.7|0.2", "1|0|0"]), 3, "|", "soft")
    np.testing.assert_allclose(got.numpy(), [[0.1, 0.7, 0.2], [1, 0, 0]])
    # an empty separator splits into characters (TF1's string_split, as EasyRec reads it)
    np.testing.assert_allclose(split_label(tf.constant(["0110"]), 4, "", "bits").numpy(),
                               [[0, 1, 1, 0]])
    with pytest.raises(tf.errors.InvalidArgumentError, match="'soft' must hold label_dim = 3"):
        split_label(tf.constant(["0.1|0.9"]), 3, "|", "soft")


def test_label_widths_default_to_one():
    assert label_widths(data_config()) == {"soft": (3, "|")}


def test_csv_reader_carries_wide_labels(tmp_path):
    path = tmp_path / "rows.csv"
    path.write_text("1,0.2|0.3|0.5,01\n0,1|0|0,10\n")
    config = data_config()
    plan = ColumnPlan((), ("label", "soft", "bits"), None, (), (), {}, {})
    reader = build_reader(config, str(path), plan)
    assert reader.output_signature["soft"] == tf.TensorSpec([None, 3], tf.float32)
    batch = next(iter(reader.make_dataset(2)))
    np.testing.assert_allclose(batch["soft"].numpy(), [[0.2, 0.3, 0.5], [1, 0, 0]])
    assert batch["label"].numpy().tolist() == [1, 0]
    assert batch["bits"].numpy().tolist() == [b"01", b"10"]  # label_dim 1: as read


PIPELINE = """
model_dir: "exp"
train_input_path: "x.csv"
eval_input_path: "x.csv"
data_config {{
  input_type: CSVInput
  input_fields {{ input_name: "label" input_type: INT32 }}
  input_fields {{ input_name: "soft" input_type: {soft_type} }}
  input_fields {{ input_name: "uid" input_type: STRING }}
  label_fields: ["label", "soft"]
  {extra}
}}
feature_config {{ features {{ input_names: "uid" feature_type: IdFeature embedding_dim: 4
  hash_bucket_size: 10 }} }}
model_config {{
  model_class: "DNN"
  feature_groups {{ group_name: "all" feature_names: "uid" wide_deep: DEEP }}
  dnn {{ dnn {{ hidden_units: [4] }} }}
}}
"""


@pytest.mark.parametrize("soft_type,extra,field", [
    ("STRING", "label_dim: [1, 3]", "data_config.label_dim[1]"),           # no label_sep[1]
    ("FLOAT", 'label_dim: [1, 3] label_sep: ["", ","]', "data_config.label_dim[1]"),
    ("STRING", "label_dim: [1, 1, 2]", "data_config.label_dim"),
])
def test_label_dim_config_errors(soft_type, extra, field):
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(PIPELINE.format(soft_type=soft_type, extra=extra), "p.config")
    assert info.value.field == field
