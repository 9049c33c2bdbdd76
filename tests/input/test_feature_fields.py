"""data_config.feature_fields: accepted and unused, as in EasyRec (whose readers store the list
and never read it)."""
from __future__ import annotations

from easy_rec.pipeline import parse_pipeline_config_text

PIPELINE = """
model_dir: "exp"
train_input_path: "x.csv"
data_config {
  input_type: CSVInput
  input_fields { input_name: "label" input_type: INT32 }
  input_fields { input_name: "uid" input_type: STRING }
  label_fields: "label"
  feature_fields: ["uid", "not_an_input"]
}
feature_config { features { input_names: "uid" feature_type: IdFeature embedding_dim: 4
  hash_bucket_size: 10 } }
model_config {
  model_class: "DNN"
  feature_groups { group_name: "all" feature_names: "uid" wide_deep: DEEP }
  dnn { dnn { hidden_units: [4] } }
}
train_config { optimizer_config { adam_optimizer { learning_rate {
  constant_learning_rate { learning_rate: 0.01 } } } } }
"""


def test_feature_fields_parse_and_pass_the_checks():
    config = parse_pipeline_config_text(PIPELINE, "p.config").config
    assert list(config.data_config.feature_fields) == ["uid", "not_an_input"]
