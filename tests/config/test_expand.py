"""Name ranges (``field[1-3]``) and data_config.auto_expand_input_fields."""
from __future__ import annotations

import os

import pytest
from conftest import REPO

from easy_rec.config.errors import ConfigError
from easy_rec.config.expand import (
    expand_group_feature_names,
    expand_name_range,
    expand_shared_names,
    original_path,
)
from easy_rec.config.loader import parse_pipeline_config_text as parse
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.protos import dataset_pb2, pipeline_pb2

SAMPLE = os.path.join(REPO, "samples", "deepfm_on_movielens.config")


def test_expand_name_range():
    assert expand_name_range("field[1-3]") == ["field1", "field2", "field3"]
    assert expand_name_range("c[9-11]") == ["c9", "c10", "c11"]
    assert expand_name_range("x[2-2]") == ["x2"]
    assert expand_name_range("field") is None
    assert expand_name_range("field[3-1]") is None
    assert expand_name_range("field[a-b]") is None


def ranged_sample(auto_expand: bool) -> str:
    with open(SAMPLE, encoding="utf-8") as f:
        text = f.read()
    # a ranged field extra[1-3] after "rating", plus the expansion switch when asked
    old = ('  input_fields { input_name: "rating" input_type: INT32 }\n')
    new = ('  input_fields { input_name: "rating" input_type: INT32 }\n'
           '  input_fields { input_name: "extra[1-3]" input_type: FLOAT default_val: "0.5" }\n')
    assert old in text
    text = text.replace(old, new)
    if auto_expand:
        text = text.replace("data_config {", "data_config {\n  auto_expand_input_fields: true", 1)
    return text


def test_auto_expand_replaces_the_ranged_field_in_place():
    config = parse(ranged_sample(auto_expand=True)).config
    names = [f.input_name for f in config.data_config.input_fields]
    start = names.index("rating") + 1
    assert names[start:start + 4] == ["extra1", "extra2", "extra3", "gender"]
    extra = config.data_config.input_fields[start + 2]
    assert extra.input_type == dataset_pb2.DatasetConfig.FLOAT and extra.default_val == "0.5"


def test_without_auto_expand_the_name_is_kept():
    config = parse(ranged_sample(auto_expand=False)).config
    assert "extra[1-3]" in [f.input_name for f in config.data_config.input_fields]


def test_errors_on_an_expanded_field_point_at_the_written_line():
    text = ranged_sample(auto_expand=True).replace('default_val: "0.5"', 'default_val: "x"')
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, "ranged.config")
    written = text.splitlines().index(
        '  input_fields { input_name: "extra[1-3]" input_type: FLOAT default_val: "x" }') + 1
    assert info.value.line == written
    assert info.value.field.startswith("data_config.input_fields[")


def test_group_feature_name_ranges_and_their_origins():
    config = pipeline_pb2.EasyRecConfig()
    group = config.model_config.feature_groups.add(group_name="g")
    group.feature_names.extend(["a", "f[1-3]", "x[2-2]"])
    config.model_config.feature_groups.add(group_name="plain", feature_names=["a"])
    origins = expand_group_feature_names(config)
    assert list(group.feature_names) == ["a", "f1", "f2", "f3", "x2"]
    assert origins == {"model_config.feature_groups[0].feature_names": [0, 1, 1, 1, 2]}
    assert original_path("model_config.feature_groups[0].feature_names[3]", origins) == \
        "model_config.feature_groups[0].feature_names[1]"


@pytest.mark.parametrize("auto_expand", [False, True])
def test_shared_names_append_copies_reading_each_name(auto_expand):
    config = pipeline_pb2.EasyRecConfig()
    config.data_config.auto_expand_input_fields = auto_expand
    config.feature_config.features.add(input_names=["c"], embedding_dim=4)
    config.feature_config.features.add(feature_name="own", input_names=["a"], embedding_dim=8,
                                       hash_bucket_size=5, shared_names=["b", "d[1-2]"])
    origins = expand_shared_names(config)
    features = config.feature_config.features
    copies = [list(f.input_names) for f in features[2:]]
    assert copies == ([["b"], ["d1"], ["d2"]] if auto_expand else [["b"], ["d[1-2]"]])
    assert all(f.hash_bucket_size == 5 and not f.feature_name for f in features[2:])
    assert not features[1].shared_names and features[1].feature_name == "own"
    assert origins == {"feature_config.features": [0, 1] + [1] * len(copies)}
