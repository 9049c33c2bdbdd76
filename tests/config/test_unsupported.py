"""Options that parse (EasyRec configs load) but are refused, with the reason, by validation."""
from __future__ import annotations

import os

import pytest
from conftest import REPO

from easy_rec.config.errors import ConfigError
from easy_rec.config.loader import LoadedConfig
from easy_rec.config.loader import parse_pipeline_config_text as parse
from easy_rec.config.unsupported import check_unsupported_fields, find_unsupported
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.protos import pipeline_pb2

SAMPLE = os.path.join(REPO, "samples", "deepfm_on_movielens.config")
ONLY_UNSUPPORTED = (check_unsupported_fields,)


def sample_text(old: str, new: str) -> str:
    """The DeepFM sample config with its first `old` replaced by `new`."""
    with open(SAMPLE, encoding="utf-8") as f:
        text = f.read()
    assert old in text
    return text.replace(old, new, 1)


def check(text: str) -> LoadedConfig:
    return parse(text, "sample.config", checks=ONLY_UNSUPPORTED)


def refusal(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        check(text)
    return info.value


def test_platform_only_field_is_refused_with_file_line_and_reason():
    text = sample_text("data_config {", "data_config {\n  pai_worker_queue: true")
    error = refusal(text)
    line = text.splitlines().index("  pai_worker_queue: true") + 1
    assert str(error).startswith(f"sample.config:{line}: data_config.pai_worker_queue: "
                                 "pai_worker_queue is not supported: ")
    assert "platform-only" in error.reason


def test_default_value_written_out_is_accepted():
    # EasyRec configs often spell out defaults (chief_redundant: false); only other values fail
    loaded = check(sample_text("data_config {", "data_config {\n  pai_worker_queue: false"))
    assert loaded.config.data_config.HasField("pai_worker_queue")


def test_unsupported_enum_value_is_refused_and_supported_values_pass():
    error = refusal(sample_text("input_type: CSVInput", "input_type: OdpsInputV2"))
    assert error.field == "data_config.input_type"
    assert "input_type: OdpsInputV2 is not supported: " in str(error)
    assert "MaxCompute" in error.reason
    check(sample_text("input_type: CSVInput", "input_type: ParquetInput"))


def test_present_message_field_is_refused():
    config = pipeline_pb2.EasyRecConfig()
    config.datahub_train_input.akId = "a"
    found = [(path, name) for path, name, _ in find_unsupported(config)]
    assert found == [("datahub_train_input", "datahub_train_input")]


def test_repeated_elements_are_located_by_index():
    config = pipeline_pb2.EasyRecConfig()
    config.data_config.input_fields.add(input_name="a")
    config.data_config.input_fields.add(input_name="b", user_define_fn_path="f.py")
    paths = [path for path, _, _ in find_unsupported(config)]
    assert paths == ["data_config.input_fields[1].user_define_fn_path"]


def test_full_validation_reports_the_refusal_first():
    text = sample_text("data_config {", "data_config {\n  pai_worker_queue: true")
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, "sample.config")
    assert "pai_worker_queue is not supported" in str(info.value)
