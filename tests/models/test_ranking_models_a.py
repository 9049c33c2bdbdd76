"""DCN, DCN-V2, AutoInt, DLRM, xDeepFM: layers against numpy references, config errors, and
each model built from its sample config (shapes, gradients, L2 over the interaction weights)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from layers.layer_helpers import tree_kernels
from pipeline_helpers import sample_model_and_batch

from easy_rec.config.errors import ConfigError
from easy_rec.models.base import l2_of
from easy_rec.pipeline import parse_pipeline_config_text


# -- config checks ---------------------------------------------------------------------------
def sample_text(name: str) -> str:
    with open(os.path.join(SAMPLES, f"{name}_on_movielens.config"), encoding="utf-8") as f:
        return f.read()


@pytest.mark.parametrize("sample,group", [
    ("dcn", "all"), ("dcn_v2", "all"), ("autoint", "all"), ("dlrm", "sparse"),
    ("dlrm", "dense"), ("xdeepfm", "wide")])
def test_missing_group_is_a_located_config_error(sample, group):
    text = sample_text(sample).replace(f'group_name: "{group}"', 'group_name: "other"')
    with pytest.raises(ConfigError, match=f"feature group named '{group}'") as info:
        parse_pipeline_config_text(text, f"{sample}.config")
    line = text.splitlines().index("  feature_groups {") + 1
    assert info.value.field == "model_config.feature_groups" and info.value.line == line


@pytest.mark.parametrize("sample,old,new,field", [
    ("dcn", "cross_num: 3", "cross_num: 0", "model_config.dcn.cross_tower.cross_num"),
    ("dcn", "cross_num: 3", "cross_num: 3 version: 3", "model_config.dcn.cross_tower.version"),
    ("dcn", "cross_num: 3", "cross_num: 3 version: 2 preactivation: 'relux'",
     "model_config.dcn.cross_tower.preactivation"),
    ("dcn_v2", "cross_num: 3", "cross_num: 0", "model_config.dcn_v2.cross.cross_num"),
    ("autoint", "multi_head_num: 2", "multi_head_num: 0", "model_config.autoint.multi_head_num"),
    ("dlrm", 'arch_interaction_op: "dot"', 'arch_interaction_op: "sum"',
     "model_config.dlrm.arch_interaction_op"),
    ("xdeepfm", "hidden_feature_maps: [64, 64]", "hidden_feature_maps: [63, 64]",
     "model_config.xdeepfm.cin.hidden_feature_maps"),
    ("xdeepfm", "wide_deep: WIDE", "wide_deep: DEEP", "model_config.feature_groups[0].wide_deep"),
    ("autoint", "wide_deep: DEEP", "wide_deep: WIDE", "model_config.feature_groups[0].wide_deep"),
])
def test_bad_model_parameter_is_a_located_config_error(sample, old, new, field):
    text = sample_text(sample)
    assert old in text
    text = text.replace(old, new)
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, f"{sample}.config")
    line = next(i for i, t in enumerate(text.splitlines(), 1) if new in t)
    assert (info.value.field, info.value.line) == (field, line)


# -- models from their sample configs --------------------------------------------------------
@pytest.fixture(scope="module")
def rows_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "rows.csv"
    path.write_text("".join(sample_rows("movielens_train.csv", 64)), encoding="utf-8")
    return str(path)


def build(sample: str, rows_file: str, **edits):
    """(model, one batch of 64 rows) for samples/<sample>_on_movielens.config with `edits`."""
    return sample_model_and_batch(sample, rows_file, 64, **edits)


def check_trains(model, batch) -> dict[str, tf.Tensor]:
    """Runs a training forward pass; every dense variable gets a gradient and L2 covers the
    model's kernels."""
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        loss = model.loss(outputs, batch) + model.regularization(outputs)
    tables = {t.weights.ref() for t in model.feature_layer.embedding_tables()}
    dense = [v for v in model.trainable_variables if v.ref() not in tables]
    grads = tape.gradient(loss, dense)
    missing = [v.name for v, g in zip(dense, grads) if g is None]
    assert not missing, missing
    assert np.isfinite(float(loss))
    assert outputs["probs"].shape == (64,)
    scale = float(model.params.l2_regularization)
    assert float(model.dense_l2()) == pytest.approx(scale * float(l2_of(model.regularized_kernels())))
    return outputs


def kernel_ids(*modules) -> set[int]:
    return {id(k) for m in modules for k in tree_kernels(m)}


def test_dcn(rows_file):
    model, batch = build("dcn", rows_file)
    check_trains(model, batch)
    assert model.cross.output_dim == model.feature_layer.group_dim("all") == 9 * 16
    # EasyRec's DCN: L2 on the deep and final MLPs, not on the cross vectors or the output
    regularized = {id(k) for k in model.regularized_kernels()}
    assert regularized == kernel_ids(model.deep, model.final_dnn)


def test_dcn_cross_v2_sample_parses():
    path = os.path.join(SAMPLES, "options", "dcn_cross_v2_on_movielens.config")
    with open(path, encoding="utf-8") as f:
        config = parse_pipeline_config_text(f.read(), path)
    assert config.config.model_config.dcn.cross_tower.version == 2


def test_dcn_cross_tower_version_2(rows_file):
    model, batch = build("dcn", rows_file, **{"model_config.dcn.cross_tower": {
        "input": "all", "cross_num": 2, "version": 2, "projection_dim": 8, "diag_scale": 0.1,
        "preactivation": "relu"}})
    check_trains(model, batch)
    width = model.feature_layer.group_dim("all")
    assert sorted(tuple(k.shape) for k in tree_kernels(model.cross)) == [(8, width)] * 2 + [
        (width, 8)] * 2
    assert model.cross.layers[0].diag_scale == pytest.approx(0.1)
    regularized = {id(k) for k in model.regularized_kernels()}
    assert regularized == kernel_ids(model.deep, model.final_dnn)


def test_dcn_v2_low_rank_with_backbone(rows_file):
    model, batch = build("dcn_v2", rows_file, **{
        "model_config.dcn_v2.cross.low_rank": 8,
        "model_config.dcn_v2.backbone": {"hidden_units": [32]}})
    check_trains(model, batch)
    assert [tuple(k.shape) for k in tree_kernels(model.cross)] == [(32, 8), (8, 32)] * 3
    assert kernel_ids(model.cross, model.backbone) <= {id(k) for k in model.regularized_kernels()}


def test_autoint(rows_file):
    model, batch = build("autoint", rows_file, **{"model_config.autoint.dnn":
                                                  {"hidden_units": [16]}})
    check_trains(model, batch)
    assert len(model.interacting) == 3 and model.interacting[-1].output_dim == 2 * 16
    assert model.output_layer.kernel.shape == (9 * 32 + 16, 1)
    # EasyRec's AutoInt: L2 on the attention and residual kernels, not on the output layer
    regularized = {id(k) for k in model.regularized_kernels()}
    assert regularized == kernel_ids(*model.interacting, model.dnn)


def test_autoint_needs_one_embedding_width(rows_file):
    with pytest.raises(ValueError, match="user_id: 8"):
        build("autoint", rows_file, **{"feature_config.features[0].embedding_dim": 8})


@pytest.mark.parametrize("op,itself,with_dense,interaction_width", [
    ("dot", False, True, 45 + 9 * 16 + 16),  # 10 vectors -> 45 pairs
    ("dot", True, False, 55 + 9 * 16),
    ("cat", False, False, 16 + 9 * 16),
])
def test_dlrm_interaction_mlp_input(rows_file, op, itself, with_dense, interaction_width):
    """As EasyRec's code: top_dnn runs over the dense group, bot_dnn over the interaction."""
    model, batch = build("dlrm", rows_file, **{
        "model_config.dlrm.arch_interaction_op": op,
        "model_config.dlrm.arch_interaction_itself": itself,
        "model_config.dlrm.arch_with_dense_feature": with_dense})
    check_trains(model, batch)
    assert model.bot_dnn.dense_layers[0].kernel.shape[0] == interaction_width
    assert model.top_dnn.dense_layers[0].kernel.shape[0] == model.feature_layer.group_dim("dense")


def test_dlrm_dense_mlp_width_must_match_embeddings(rows_file):
    with pytest.raises(ValueError, match=r"top_dnn's last hidden_units \(8\)"):
        build("dlrm", rows_file, **{"model_config.dlrm.top_dnn.hidden_units": [64, 8]})


@pytest.mark.parametrize("final_dnn", [False, True])
def test_xdeepfm(rows_file, final_dnn):
    edits = {"model_config.xdeepfm.final_dnn": {"hidden_units": [32]},
             "model_config.xdeepfm.wide_output_dim": 4} if final_dnn else {}
    model, batch = build("xdeepfm", rows_file, **edits)
    check_trains(model, batch)
    assert model.cin.output_dim == 32 + 64 and model.cin.num_fields == 9
    assert kernel_ids(model.cin) <= {id(k) for k in model.regularized_kernels()}
    if final_dnn:
        assert model.final_dnn.dense_layers[0].kernel.shape[0] == 4 + 96 + 64
