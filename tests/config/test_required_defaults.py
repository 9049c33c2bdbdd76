"""Missing proto2 `required` fields read as EasyRec reads them (text_format.Merge never checks
them): a message becomes empty, a scalar with a default takes it; only a required scalar
without a default stays an error."""
from __future__ import annotations

import os

from conftest import SAMPLES

from easy_rec.config.required import fill_required_defaults
from easy_rec.pipeline import load_pipeline_config
from easy_rec.protos import dataset_pb2, pipeline_pb2


def _sample_text(name: str) -> str:
    with open(os.path.join(SAMPLES, f"{name}_on_movielens.config"), encoding="utf-8") as f:
        return f.read()


def test_fill_sets_messages_and_scalars_with_defaults_only():
    config = pipeline_pb2.EasyRecConfig()
    config.model_config.mind.user_dnn.hidden_units.append(8)
    config.data_config.input_fields.add()  # input_name: required, no default
    filled = fill_required_defaults(config)
    assert "model_config.mind.concat_dnn" in filled
    assert config.model_config.mind.HasField("concat_dnn")
    assert not config.model_config.mind.concat_dnn.hidden_units
    assert config.data_config.input_type == dataset_pb2.DatasetConfig.CSVInput
    assert "model_dir" not in filled and "data_config.input_fields[0].input_name" not in filled
    assert set(config.FindInitializationErrors()) == {
        "model_dir", "model_config.model_class", "data_config.input_fields[0].input_name"}


def test_multi_tower_without_final_dnn_is_identity_before_the_output(tmp_path):
    # EasyRec's multi_tower_with_embed.config omits final_dnn: an empty DNN, the identity
    text = _sample_text("multi_tower").replace("    final_dnn { hidden_units: [128, 64] }\n", "")
    path = tmp_path / "multi_tower_on_movielens.config"
    path.write_text(text, encoding="utf-8")
    config = load_pipeline_config(str(path)).config
    from easy_rec.models.builder import build_model

    model = build_model(config, base_dir=SAMPLES)
    assert model.final_dnn.dense_layers == []
    assert model.output_layer.kernel.shape[0] == 128 + 128  # the two towers' widths
