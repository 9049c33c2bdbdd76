"""ColumnPlan: the columns, labels, weight, group keys and column uses of a pipeline config."""
from __future__ import annotations

import pytest
from google.protobuf import text_format

from easy_rec.input import reader as reader_module
from easy_rec.input.column_plan import build_column_plan, gauc_group_fields
from easy_rec.protos import eval_pb2, pipeline_pb2
from easy_rec.tables.errors import InputError

CONFIG = """
eval_config {
  metrics_set { auc {} }
  metrics_set { gauc { uid_field: "user_id" } }
  metrics_set { gauc { uid_field: "user_id" reduction: "mean_by_sample_num" } }
}
data_config {
  input_fields { input_name: "label" input_type: INT32 }
  input_fields { input_name: "click" input_type: INT32 }
  input_fields { input_name: "weight" input_type: FLOAT }
  input_fields { input_name: "user_id" input_type: INT64 }
  input_fields { input_name: "movie_id" input_type: INT64 }
  input_fields { input_name: "year" input_type: INT32 }
  input_fields { input_name: "genres" input_type: STRING }
  label_fields: "label"
  label_fields: "click"
  sample_weight: "weight"
}
feature_configs { input_names: "user_id" feature_type: IdFeature num_buckets: 10 }
feature_configs { feature_name: "item" input_names: "movie_id" feature_type: IdFeature num_buckets: 10 }
feature_configs { input_names: "year" feature_type: RawFeature }
feature_configs { input_names: "genres" feature_type: TagFeature hash_bucket_size: 10 }
"""


def _config(text: str = CONFIG) -> pipeline_pb2.EasyRecConfig:
    return text_format.Parse(text, pipeline_pb2.EasyRecConfig())


def _metric(text: str) -> eval_pb2.EvalMetrics:
    return text_format.Parse(text, eval_pb2.EvalMetrics())


def test_plan_lists_every_column_once_in_order():
    plan = build_column_plan(_config(), ["movie_id", "user_id", "year", "genres"])
    assert plan.feature_inputs == ("movie_id", "user_id", "year", "genres")
    assert plan.labels == ("label", "click")
    assert plan.sample_weight == "weight"
    assert plan.group_keys == ("user_id",)
    assert plan.columns == ("movie_id", "user_id", "year", "genres", "label", "click", "weight")


def test_plan_without_weight_or_features_reads_labels_and_group_keys():
    config = _config()
    config.data_config.ClearField("sample_weight")
    plan = build_column_plan(config)
    assert plan.sample_weight is None
    assert plan.columns == ("label", "click", "user_id")


def test_task_metrics_add_their_group_keys_after_eval_config_ones():
    task_metrics = [[_metric('gauc { uid_field: "movie_id" }')],
                    [_metric("auc {}"), _metric('gauc { uid_field: "user_id" }')]]
    plan = build_column_plan(_config(), ["year"], task_metrics)
    assert plan.group_keys == ("user_id", "movie_id")
    assert plan.columns == ("year", "label", "click", "weight", "user_id", "movie_id")


def test_gauc_group_fields_keeps_first_seen_order_without_repeats():
    metrics = [_metric('gauc { uid_field: "b" }'), _metric("auc {}"),
               _metric('gauc { uid_field: "a" }'), _metric('gauc { uid_field: "b" }')]
    assert gauc_group_fields(metrics) == ["b", "a"]


def test_feature_inputs_of_type_are_limited_to_the_models_inputs():
    plan = build_column_plan(_config(), ["user_id", "year"])
    assert plan.feature_inputs_of_type("IdFeature") == {"user_id"}
    assert plan.feature_inputs_of_type("RawFeature") == {"year"}
    assert plan.feature_inputs_of_type("SequenceFeature") == frozenset()


def test_scalar_uses_name_why_a_column_cannot_be_a_list():
    plan = build_column_plan(_config())
    assert plan.scalar_uses == {"label": "label field", "click": "label field",
                                "weight": "sample_weight", "user_id": "gauc / session_auc group field",
                                "movie_id": "IdFeature 'item'"}
    reader_module.check_list_columns(plan, frozenset({"genres", "year"}))
    with pytest.raises(InputError, match=r"'weight' is a list column but is used as sample_weight"):
        reader_module.check_list_columns(plan, frozenset({"genres", "weight"}))


def test_plan_is_frozen():
    plan = build_column_plan(_config())
    with pytest.raises(AttributeError):
        plan.labels = ("other",)  # type: ignore[misc]
    with pytest.raises(TypeError):
        plan.scalar_uses["genres"] = "label field"  # type: ignore[index]
