"""FiBiNet, MaskNet, FLEN, DIFM: their layers against numpy references, config errors, and each
model built from its sample config (shapes, gradients, L2 over the interaction weights)."""
from __future__ import annotations

import itertools
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from layers.layer_helpers import dense, randomize, tree_kernels
from pipeline_helpers import sample_model_and_batch

from easy_rec.config.errors import ConfigError
from easy_rec.models.base import l2_of
from easy_rec.models.flen import field_groups
from easy_rec.pipeline import load_pipeline_config, parse_pipeline_config_text


# -- config checks ---------------------------------------------------------------------------
def sample_text(name: str) -> str:
    with open(os.path.join(SAMPLES, f"{name}_on_movielens.config"), encoding="utf-8") as f:
        return f.read()


def config_error(sample: str, old: str, new: str) -> tuple[ConfigError, str]:
    """The ConfigError of the sample with `old` replaced by `new`, and the edited text."""
    text = sample_text(sample)
    assert old in text, old
    text = text.replace(old, new)
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, f"{sample}.config")
    return info.value, text


def line_of(text: str, fragment: str) -> int:
    return next(i for i, t in enumerate(text.splitlines(), 1) if fragment in t)


@pytest.mark.parametrize("sample,old,new,field", [
    ("fibinet", 'type: "interaction"', 'type: "pairs"', "model_config.fibinet.bilinear.type"),
    ("fibinet", "num_output_units: 32", "num_output_units: 0",
     "model_config.fibinet.bilinear.num_output_units"),
    ("fibinet", "num_squeeze_group: 2", "num_squeeze_group: 0",
     "model_config.fibinet.senet.num_squeeze_group"),
    ("masknet", "reduction_factor: 1.0", "reduction_factor: -1.0",
     "model_config.masknet.mask_blocks[1].reduction_factor"),
    ("difm", "att_head_num: 2", "att_head_num: 0", "model_config.difm.att_head_num"),
    ("flen", 'field_groups: ["user", "item"]', 'field_groups: ["user"]',
     "model_config.flen.field_groups"),
])
def test_bad_model_parameter_is_a_located_config_error(sample, old, new, field):
    error, text = config_error(sample, old, new)
    assert (error.field, error.line) == (field, line_of(text, new)), str(error)


def test_mask_block_needs_a_hidden_width():
    error, text = config_error("masknet", "aggregation_size: 256", "projection_dim: 8")
    assert error.field == "model_config.masknet.mask_blocks[0]"
    assert error.line == line_of(text, "mask_blocks {") and "aggregation_size" in error.reason


def test_masknet_needs_mask_blocks():
    text = sample_text("masknet")
    start, end = text.index("    mask_blocks {"), text.index("    use_parallel")
    with pytest.raises(ConfigError, match="at least one mask_blocks") as info:
        parse_pipeline_config_text(text[:start] + text[end:], "masknet.config")
    assert info.value.field == "model_config.masknet"


@pytest.mark.parametrize("sample,group", [
    ("fibinet", "all"), ("masknet", "all"), ("difm", "all"), ("difm", "wide"), ("flen", "wide")])
def test_missing_group_is_a_config_error(sample, group):
    error, _ = config_error(sample, f'group_name: "{group}"', 'group_name: "other"')
    assert error.field == "model_config.feature_groups"
    assert f"feature group named '{group}'" in error.reason


def test_flen_field_group_must_exist_and_be_deep():
    error, _ = config_error("flen", 'field_groups: ["user", "item"]',
                            'field_groups: ["user", "items"]')
    assert "feature group named 'items'" in error.reason
    error, text = config_error("flen", "wide_deep: DEEP", "wide_deep: WIDE")  # the user group
    assert error.field == "model_config.feature_groups[1].wide_deep"
    assert error.line == line_of(text, "wide_deep: WIDE") + 5 and "'user'" in error.reason


ALL_FEATURES = ('["user_id", "movie_id", "job_id", "age", "gender", "year", "genres", "zip_id", '
                '"title"]')


def test_difm_wide_features_must_be_fields():
    text = sample_text("difm").replace(ALL_FEATURES, ALL_FEATURES.replace('"zip_id", ', ""))
    text = text.replace('"genres"]\n    wide_deep: WIDE', '"genres", "zip_id"]\n    wide_deep: WIDE')
    with pytest.raises(ConfigError, match="wide feature 'zip_id' must also be in group 'all'") \
            as info:
        parse_pipeline_config_text(text, "difm.config")
    assert info.value.field == "model_config.feature_groups[0].feature_names[7]"
    assert info.value.line == line_of(text, '"genres", "zip_id"]')


@pytest.mark.parametrize("sample,index", [("fibinet", 0), ("difm", 1)])
def test_pairwise_models_need_two_fields(sample, index):
    error, text = config_error(sample, ALL_FEATURES, '["user_id"]')
    assert "at least 2 features in group 'all'" in error.reason
    assert error.field == f"model_config.feature_groups[{index}].feature_names"
    assert error.line == line_of(text, 'feature_names: ["user_id"]')


# -- models from their sample configs --------------------------------------------------------
@pytest.fixture(scope="module")
def rows_file(tmp_path_factory) -> str:
    path = tmp_path_factory.mktemp("data") / "rows.csv"
    path.write_text("".join(sample_rows("movielens_train.csv", 32)), encoding="utf-8")
    return str(path)


def model_and_batch(sample: str, rows_file: str, **edits):
    """(model, a batch of 32 rows) for samples/<sample>_on_movielens.config with `edits`."""
    return sample_model_and_batch(sample, rows_file, 32, **edits)


def assert_trainable(model, batch, *layers) -> None:
    """Every dense variable gets a gradient, probs are [batch], the L2 term covers the
    model's kernels and every kernel of `layers` is among them."""
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        loss = model.loss(outputs, batch) + model.regularization(outputs)
    tables = {t.weights.ref() for t in model.feature_layer.embedding_tables()}
    dense_vars = [v for v in model.trainable_variables if v.ref() not in tables]
    grads = tape.gradient(loss, dense_vars)
    assert not [v.name for v, g in zip(dense_vars, grads) if g is None]
    assert np.isfinite(float(loss)) and outputs["probs"].shape == (32,)
    kernels = model.regularized_kernels()
    scale = float(model.params.l2_regularization)
    assert float(model.dense_l2()) == pytest.approx(scale * float(l2_of(kernels)), rel=1e-5)
    assert {id(k) for layer in layers for k in tree_kernels(layer)} <= {id(k) for k in kernels}


@pytest.mark.parametrize("kind", ["each", "all"])
def test_fibinet(rows_file, kind):
    model, batch = model_and_batch("fibinet", rows_file,
                                   **{"model_config.fibinet.bilinear.type": kind})
    assert_trainable(model, batch, model.senet, *model.bilinear)
    assert model.mlp.dense_layers[0].kernel.shape == (2 * 32, 128)
    assert model.bilinear[0].output_layer.kernel.shape == (36, 32)  # 9 fields, bilinear+


def test_fibinet_squeeze_groups_must_divide_the_width(rows_file):
    with pytest.raises(ValueError, match="divisible"):
        model_and_batch("fibinet", rows_file, **{"model_config.fibinet.senet.num_squeeze_group": 5})


@pytest.mark.parametrize("parallel", [True, False])
def test_masknet(rows_file, parallel):
    model, batch = model_and_batch("masknet", rows_file,
                                   **{"model_config.masknet.use_parallel": parallel})
    assert_trainable(model, batch, *model.blocks)
    first, second = model.blocks
    assert first.mask.kernel.shape == (256, 144)  # aggregation_size -> embedding width
    assert second.aggregation.kernel.shape == (32, 144)  # projection_dim, reduction_factor 1
    assert second.mask.kernel.shape[1] == (144 if parallel else 128)  # serial: first's output
    assert model.mlp.dense_layers[0].kernel.shape[0] == (256 if parallel else 128)


def test_flen_logit_is_wide_plus_dense_of_interaction_and_dnn(rows_file):
    model, batch = model_and_batch("flen", rows_file)
    assert_trainable(model, batch, model.dnn)
    assert model._fields == ["user", "item"]
    features = model.feature_layer(batch)
    fields = [tf.stack(features.deep[g], axis=1) for g in ("user", "item")]
    pooled = [f.numpy().sum(axis=1) for f in fields]
    within = [0.5 * (p ** 2 - (f.numpy() ** 2).sum(axis=1)) for p, f in zip(pooled, fields)]
    r, s = model.interaction.pair_weights.numpy(), model.interaction.field_weights.numpy()
    interaction = r[0] * pooled[0] * pooled[1] + s[0] * within[0] + s[1] * within[1]
    deep = model.dnn(tf.concat([features.concat("user"), features.concat("item")], 1), False)
    expected = (features.wide_sum("wide").numpy()
                + dense(np.concatenate([interaction, deep.numpy()], 1), model.output_layer))
    np.testing.assert_allclose(model.logits(features, False).numpy(), expected, rtol=1e-4,
                               atol=1e-4)


def test_flen_defaults_to_every_deep_group():
    config = load_pipeline_config(os.path.join(SAMPLES, "flen_on_movielens.config"),
                                  {"model_config.flen.field_groups": []}).config
    assert field_groups(config.model_config) == ["user", "item"]  # not the WIDE group


def test_difm_logit_is_a_reweighted_fm(rows_file):
    model, batch = model_and_batch("difm", rows_file)
    assert_trainable(model, batch, model.attention, model.dnn)
    randomize(model.attention, 1, scale=0.5)
    features = model.feature_layer(batch)
    e = np.stack([t.numpy() for t in features.deep["all"]], axis=1)  # [batch, 9, 16]
    m = model.input_aware_factor(tf.constant(e), False).numpy()
    assert m.shape == (32, 9) and np.ptp(m, axis=0).min() > 0  # differs between examples
    names = model.feature_layer.groups["all"][0]
    wide_names = model.feature_layer.groups["wide"][0]
    w = np.concatenate([t.numpy() for t in features.wide["wide"]], axis=1)
    linear = sum(m[:, names.index(n)] * w[:, k] for k, n in enumerate(wide_names))
    v = m[..., None] * e
    pairs = sum(np.sum(v[:, i] * v[:, j], axis=1) for i, j in itertools.combinations(range(9), 2))
    expected = model.bias.numpy() + linear + pairs
    np.testing.assert_allclose(model.logits(features, False).numpy()[:, 0], expected, rtol=1e-4,
                               atol=1e-4)
