"""DCN, DCN-V2, AutoInt, DLRM, xDeepFM: layers against numpy references, config errors, and
each model built from its sample config (shapes, gradients, L2 over the interaction weights)."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from pipeline_helpers import sample_model_and_batch

from easy_rec.config.errors import ConfigError
from easy_rec.layers.attention import InteractingLayer, MultiHeadSelfAttention
from easy_rec.layers.cin import CIN
from easy_rec.layers.cross import CrossNet, CrossNetV2
from easy_rec.layers.interaction import dot_interaction
from easy_rec.models.base import l2_of
from easy_rec.pipeline import parse_pipeline_config_text


def randomize(module: tf.Module, seed: int = 0) -> None:
    """Gives every variable of `module` random values (zero-initialised biases included)."""
    rng = np.random.default_rng(seed)
    for v in module.trainable_variables:
        v.assign(rng.normal(0.0, 0.3, v.shape).astype(np.float32))


# -- cross networks --------------------------------------------------------------------------
def test_cross_net_matches_numpy():
    x0 = np.random.default_rng(1).normal(size=(4, 6)).astype(np.float32)
    cross = CrossNet(6, num_layers=3)
    randomize(cross)
    x = x0
    for projection, bias in zip(cross.projections, cross.biases):
        w, b = projection.kernel.numpy(), bias.numpy()
        x = x0 * (x @ w) + b + x  # x0 * (x_l . w_l) + b_l + x_l
    np.testing.assert_allclose(cross(tf.constant(x0)).numpy(), x, rtol=1e-5, atol=1e-5)
    assert [k.shape for k in cross.kernels()] == [(6, 1)] * 3


@pytest.mark.parametrize("low_rank", [0, 2])
def test_cross_net_v2_matches_numpy(low_rank):
    x0 = np.random.default_rng(2).normal(size=(4, 6)).astype(np.float32)
    cross = CrossNetV2(6, num_layers=2, low_rank=low_rank)
    randomize(cross)
    x = x0
    for layer in cross.layers:
        if low_rank:
            affine = x @ layer.down.kernel.numpy() @ layer.up.kernel.numpy() + layer.up.bias.numpy()
        else:
            affine = x @ layer.kernel.numpy() + layer.bias.numpy()
        x = x0 * affine + x  # x0 * (W x_l + b) + x_l
    np.testing.assert_allclose(cross(tf.constant(x0)).numpy(), x, rtol=1e-5, atol=1e-5)
    expected = [(6, 2), (2, 6)] * 2 if low_rank else [(6, 6)] * 2
    assert [tuple(k.shape) for k in cross.kernels()] == expected


# -- DLRM interaction ------------------------------------------------------------------------
@pytest.mark.parametrize("itself", [False, True])
def test_dot_interaction_is_the_upper_triangle(itself):
    vectors = np.random.default_rng(3).normal(size=(4, 2, 5)).astype(np.float32)  # n=4
    out = dot_interaction([tf.constant(v) for v in vectors], self_interaction=itself).numpy()
    first = 0 if itself else 1
    expected = [np.sum(vectors[i] * vectors[j], axis=1)
                for i in range(4) for j in range(i + first, 4)]
    assert out.shape == (2, 10 if itself else 6)
    np.testing.assert_allclose(out, np.stack(expected, axis=1), rtol=1e-5, atol=1e-5)


# -- CIN -------------------------------------------------------------------------------------
def cin_reference(cin: CIN, fields: np.ndarray, split: list[bool]) -> np.ndarray:
    """Numpy CIN: X^k[b, h, d] = sum_ij W[i, j, h] X^{k-1}[b, i, d] X^0[b, j, d] + bias[h]."""
    x0, x, pooled = fields, fields, []
    for layer, halve in zip(cin.layers, split):
        w = layer.kernel.numpy().reshape(x.shape[1], x0.shape[1], -1)
        maps = np.einsum("bid,bjd,ijh->bhd", x, x0, w) + layer.bias.numpy()[None, :, None]
        if halve:
            x, kept = np.split(maps, 2, axis=1)
        else:
            x = kept = maps
        pooled.append(kept.sum(axis=2))
    return np.concatenate(pooled, axis=1)


@pytest.mark.parametrize("split_half,width", [(True, 4 + 8 + 6), (False, 8 + 16 + 6)])
def test_cin_shapes_and_values(split_half, width):
    fields = np.random.default_rng(4).normal(size=(3, 5, 7)).astype(np.float32)  # m=5, D=7
    cin = CIN(5, [8, 16, 6], split_half=split_half)
    randomize(cin)
    out = cin(tf.constant(fields)).numpy()
    assert cin.output_dim == width and out.shape == (3, width)
    reference = cin_reference(cin, fields, [split_half, split_half, False])
    np.testing.assert_allclose(out, reference, rtol=1e-4, atol=1e-3)
    previous = [5, 4 if split_half else 8, 8 if split_half else 16]
    assert [tuple(k.shape) for k in cin.kernels()] == [
        (p * 5, m) for p, m in zip(previous, [8, 16, 6])]


def test_cin_split_half_needs_even_maps():
    with pytest.raises(ValueError, match="even"):
        CIN(5, [7, 4], split_half=True)
    assert CIN(5, [7, 3], split_half=False).output_dim == 10


# -- multi-head self-attention ---------------------------------------------------------------
def attention_reference(att: MultiHeadSelfAttention, x: np.ndarray) -> np.ndarray:
    q, k, v = (x @ layer.kernel.numpy() for layer in (att.query, att.key, att.value))
    heads = []
    for h in range(att.num_heads):
        cols = slice(h * att.head_dim, (h + 1) * att.head_dim)
        scores = q[..., cols] @ np.swapaxes(k[..., cols], 1, 2) / np.sqrt(att.head_dim)
        weights = np.exp(scores - scores.max(axis=-1, keepdims=True))
        weights /= weights.sum(axis=-1, keepdims=True)
        heads.append(weights @ v[..., cols])
    out = np.concatenate(heads, axis=-1)
    if att.projection is not None:
        out = out @ att.projection.kernel.numpy() + att.projection.bias.numpy()
    return out


@pytest.mark.parametrize("output_dim", [None, 5])
def test_multi_head_self_attention_matches_numpy(output_dim):
    x = np.random.default_rng(5).normal(size=(2, 4, 6)).astype(np.float32)
    att = MultiHeadSelfAttention(6, num_heads=2, head_dim=3, output_dim=output_dim)
    randomize(att)
    out = att(tf.constant(x)).numpy()
    assert out.shape == (2, 4, output_dim or 6) and att.output_dim == (output_dim or 6)
    np.testing.assert_allclose(out, attention_reference(att, x), rtol=1e-4, atol=1e-5)


def test_attention_mask_ignores_padding():
    rng = np.random.default_rng(6)
    x = rng.normal(size=(2, 5, 6)).astype(np.float32)
    mask = tf.constant([[True, True, True, False, False], [False] * 5])
    att = MultiHeadSelfAttention(6, num_heads=2, head_dim=4, output_dim=6)
    randomize(att)
    out = att(tf.constant(x), mask).numpy()
    # valid positions see only valid positions: same as attention over the unpadded prefix
    np.testing.assert_allclose(out[0, :3], att(tf.constant(x[:1, :3]))[0].numpy(),
                               rtol=1e-4, atol=1e-5)
    changed = x.copy()
    changed[0, 3:] = rng.normal(size=(2, 6)) * 100
    np.testing.assert_allclose(att(tf.constant(changed), mask).numpy()[0, :3], out[0, :3],
                               rtol=1e-4, atol=1e-5)
    assert np.all(out[0, 3:] == 0) and np.all(out[1] == 0)  # padding and all-padding rows
    assert np.isfinite(out).all()


def test_interacting_layer_is_relu_of_attention_plus_residual():
    x = tf.constant(np.random.default_rng(7).normal(size=(2, 3, 4)).astype(np.float32))
    layer = InteractingLayer(4, num_heads=2, head_dim=5)
    randomize(layer)
    out = layer(x).numpy()
    expected = np.maximum(layer.attention(x).numpy() + x.numpy() @ layer.residual.kernel.numpy(), 0)
    assert out.shape == (2, 3, 10)
    np.testing.assert_allclose(out, expected, rtol=1e-5, atol=1e-6)
    assert len(layer.kernels()) == 4


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
    return {id(k) for m in modules for k in m.kernels()}


def test_dcn(rows_file):
    model, batch = build("dcn", rows_file)
    check_trains(model, batch)
    assert model.cross.output_dim == model.feature_layer.group_dim("all") == 9 * 16
    assert kernel_ids(model.cross) <= {id(k) for k in model.regularized_kernels()}


def test_dcn_v2_low_rank_with_backbone(rows_file):
    model, batch = build("dcn_v2", rows_file, **{
        "model_config.dcn_v2.cross.low_rank": 8,
        "model_config.dcn_v2.backbone": {"hidden_units": [32]}})
    check_trains(model, batch)
    assert [tuple(k.shape) for k in model.cross.kernels()] == [(32, 8), (8, 32)] * 3
    assert kernel_ids(model.cross, model.backbone) <= {id(k) for k in model.regularized_kernels()}


def test_autoint(rows_file):
    model, batch = build("autoint", rows_file, **{"model_config.autoint.dnn":
                                                  {"hidden_units": [16]}})
    check_trains(model, batch)
    assert len(model.interacting) == 3 and model.interacting[-1].output_dim == 2 * 16
    assert model.output_layer.kernel.shape == (9 * 32 + 16, 1)


def test_autoint_needs_one_embedding_width(rows_file):
    with pytest.raises(ValueError, match="user_id: 8"):
        build("autoint", rows_file, **{"feature_config.features[0].embedding_dim": 8})


@pytest.mark.parametrize("op,itself,with_dense,top_width", [
    ("dot", False, True, 45 + 9 * 16 + 16),  # 10 vectors -> 45 pairs
    ("dot", True, False, 55 + 9 * 16),
    ("cat", False, False, 16 + 9 * 16),
])
def test_dlrm_top_input(rows_file, op, itself, with_dense, top_width):
    model, batch = build("dlrm", rows_file, **{
        "model_config.dlrm.arch_interaction_op": op,
        "model_config.dlrm.arch_interaction_itself": itself,
        "model_config.dlrm.arch_with_dense_feature": with_dense})
    check_trains(model, batch)
    assert model.top_dnn.dense_layers[0].kernel.shape[0] == top_width


def test_dlrm_bottom_width_must_match_embeddings(rows_file):
    with pytest.raises(ValueError, match=r"bot_dnn's last hidden_units \(8\)"):
        build("dlrm", rows_file, **{"model_config.dlrm.bot_dnn.hidden_units": [64, 8]})


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
