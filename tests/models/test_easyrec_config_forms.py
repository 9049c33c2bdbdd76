"""Forms of EasyRec's sample configs that easy_rec reads as EasyRec does: DIEN's
`din_towers { input dnn }`, and MultiTower ignoring the tower kinds of other model classes."""
from __future__ import annotations

import os

import pytest
from conftest import SAMPLES

from easy_rec.config.errors import ConfigError
from easy_rec.pipeline import load_pipeline_config

DIEN_OURS = ('    input: "seq"\n', '    att_dnn { hidden_units: [64, 32, 1] use_bn: false }\n')
DIEN_EASYREC = '    din_towers { input: "seq" dnn { hidden_units: [64, 32, 1] use_bn: false } }\n'


def _load(tmp_path, sample: str, replacements: list[tuple[str, str]]):
    with open(os.path.join(SAMPLES, f"{sample}_on_movielens.config"), encoding="utf-8") as f:
        text = f.read()
    for before, after in replacements:
        assert before in text
        text = text.replace(before, after)
    path = tmp_path / f"{sample}_on_movielens.config"
    path.write_text(text, encoding="utf-8")
    return load_pipeline_config(str(path)).config


def test_dien_din_towers_give_the_sequence_and_attention(tmp_path):
    import tensorflow as tf

    from easy_rec.input.reader import build_reader
    from easy_rec.models.builder import build_model, model_column_plan

    config = _load(tmp_path, "dien", [(DIEN_OURS[0], DIEN_EASYREC), (DIEN_OURS[1], "")])
    tf.random.set_seed(0)
    model = build_model(config, base_dir=SAMPLES)
    assert [int(d.kernel.shape[1]) for d in model.attention.mlp.dense_layers] == [64, 32, 1]
    reader = build_reader(config.data_config, os.path.join(SAMPLES, "data", "movielens_seq_test.csv"),
                          model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(8, num_epochs=1, shuffle=False)))
    assert model(batch, training=False)["probs"].shape == (8,)


@pytest.mark.parametrize("replacements, field", [
    ([(DIEN_OURS[1], DIEN_EASYREC)], "model_config.dien.din_towers"),  # both forms
    ([(DIEN_OURS[0], DIEN_EASYREC + DIEN_EASYREC), (DIEN_OURS[1], "")],
     "model_config.dien.din_towers[1]"),
])
def test_dien_din_towers_errors(tmp_path, replacements, field):
    with pytest.raises(ConfigError) as info:
        _load(tmp_path, "dien", replacements)
    assert info.value.field == field


def test_multi_tower_ignores_din_towers_with_a_warning(tmp_path, caplog):
    # EasyRec's share_embedding_not_used.config: MultiTower reads `towers` only
    tower = '    din_towers { input: "seq" dnn { hidden_units: [1] } }\n'
    config = _load(tmp_path, "multi_tower", [("    final_dnn {", tower + "    final_dnn {")])
    assert config.model_config.multi_tower.din_towers
    assert "multi_tower.din_towers is ignored: model_class MultiTower" in caplog.text


def _two_labels(tmp_path, label_name: str):
    return _load(tmp_path, "deepfm", [
        ('  label_fields: "label"\n', '  label_fields: ["label", "rating"]\n'),
        ('  model_class: "DeepFM"\n', f'  model_class: "DeepFM"\n  label_name: "{label_name}"\n')])


def test_label_name_picks_the_label_of_a_single_task_model(tmp_path):
    # EasyRec's RankModel learns model_config.label_name, else the first label field
    from easy_rec.models.builder import build_model

    config = _two_labels(tmp_path, "rating")
    model = build_model(config, base_dir=SAMPLES)
    assert [t.label_field for t in model.tasks] == ["rating"]
    config.model_config.ClearField("label_name")
    assert [t.label_field for t in build_model(config, base_dir=SAMPLES).tasks] == ["label"]


def test_label_name_must_be_a_label_field(tmp_path):
    with pytest.raises(ConfigError) as info:
        _two_labels(tmp_path, "clicked")
    assert info.value.field == "model_config.label_name" and "label, rating" in info.value.reason
