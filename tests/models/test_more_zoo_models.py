"""CMBF, Uniter, DSSM_SENet, DAT, MultiTowerRecall, PDN, DropoutNet and CoMetricLearningI2I:
outputs and losses against numpy, config errors, and short trainings with export of the
variants their samples do not cover (image tokens, sampled negatives, the multi-similarity
loss); the zoo test trains and serves the samples themselves."""
from __future__ import annotations

import glob
import os
import random
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from layers.layer_helpers import sigmoid, softmax_ce

from easy_rec.config.errors import ConfigError
from easy_rec.input.column_plan import build_column_plan
from easy_rec.input.reader import build_reader
from easy_rec.models.builder import build_model
from easy_rec.models.cmbf import flat_fields, tower_config
from easy_rec.models.dropoutnet import row_dropout
from easy_rec.models.losses.metric_learning import circle_loss, multi_similarity_loss
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.training.trainer import Trainer

SAMPLE_NAMES = ["cmbf", "uniter", "dssm_senet", "dat", "multi_tower_recall", "pdn", "dropoutnet",
                "co_metric_learning_i2i"]
SEQUENCE_SAMPLES = {"pdn", "dropoutnet"}
IMAGE_DIM = 8
ITEM_COLUMNS = ["movie_id", "genres", "title", "year"]


@dataclass
class Data:
    """Slices of the MovieLens samples: flat, sequence and with a simulated poster vector."""

    train: str
    test: str
    seq_train: str
    seq_test: str
    image_train: str
    image_test: str
    items: str


def poster(movie_id: str) -> str:
    """A fixed pseudo-random 8-value vector per movie, standing in for a poster embedding."""
    rng = random.Random(int(movie_id))
    return "|".join(f"{rng.uniform(-1, 1):.3f}" for _ in range(IMAGE_DIM))


@pytest.fixture(scope="module")
def data(tmp_path_factory) -> Data:
    root = tmp_path_factory.mktemp("more_zoo")
    paths = {}
    for key, name, count in (("train", "movielens_train.csv", 640),
                             ("test", "movielens_test.csv", 128),
                             ("seq_train", "movielens_seq_train.csv", 640),
                             ("seq_test", "movielens_seq_test.csv", 128)):
        rows = sample_rows(name, count)
        paths[key] = str(root / f"{key}.csv")
        with open(paths[key], "w", encoding="utf-8") as f:
            f.writelines(rows)
        if key in ("train", "test"):
            paths[f"image_{key}"] = str(root / f"image_{key}.csv")
            with open(paths[f"image_{key}"], "w", encoding="utf-8") as f:
                f.writelines(f"{r.rstrip(chr(10))}\t{poster(r.split(chr(9))[2])}\n" for r in rows)
    movies = {}
    for line in sample_rows("movielens_train.csv", 640):
        cells = line.rstrip("\n").split("\t")
        movies.setdefault(cells[2], [cells[2], cells[9], cells[8], cells[10]])
    paths["items"] = str(root / "items.txt")
    with open(paths["items"], "w", encoding="utf-8") as f:
        f.write("id:int64\tweight:float\tattrs:string\n")
        f.writelines(f"{m[0]}\t1.0\t{';'.join(m)}\n" for m in movies.values())
    return Data(**paths)


def sample_text(name: str) -> str:
    with open(os.path.join(SAMPLES, f"{name}_on_movielens.config"), encoding="utf-8") as f:
        return f.read()


def with_image(text: str, **config: str) -> str:
    """A CMBF / Uniter sample text with the poster column in an 'image' group; `config`
    replaces fields of the model's config block (name: value)."""
    text = text.replace('  label_fields: "label"',
                        '  input_fields { input_name: "poster" input_type: STRING }\n'
                        '  label_fields: "label"')
    text = text.replace("feature_config {\n", "feature_config {\n  features { input_names: "
                        f'"poster" feature_type: RawFeature separator: "|" raw_input_dim: '
                        f"{IMAGE_DIM} }}\n", 1)
    text = text.replace('  feature_groups { group_name: "text"',
                        '  feature_groups { group_name: "image" feature_names: "poster" }\n'
                        '  feature_groups { group_name: "text"')
    for field, value in config.items():
        text, count = _replace_field(text, field, value)
        assert count == 1, field
    return text


def _replace_field(text: str, field: str, value: str) -> tuple[str, int]:
    lines = text.splitlines()
    count = 0
    for i, line in enumerate(lines):
        if line.strip().startswith(f"{field}:"):
            lines[i] = f"{line[:len(line) - len(line.lstrip())]}{field}: {value}"
            count += 1
    return "\n".join(lines) + "\n", count


def sampler(data: Data, num_sample: int = 8) -> dict:
    return {"data_config.negative_sampler": {
        "input_path": data.items, "num_sample": num_sample, "attr_fields": ITEM_COLUMNS,
        "item_id_field": "movie_id", "attr_delimiter": ";"}}


def config_of(text: str, data: Data, model_dir: str, image: bool = False, sequence: bool = False,
              **edits):
    train, test = ((data.image_train, data.image_test) if image else
                   (data.seq_train, data.seq_test) if sequence else (data.train, data.test))
    return parse_pipeline_config_text(text, "sample.config", {
        "model_dir": model_dir, "train_input_path": train, "eval_input_path": test,
        "data_config.batch_size": 32, "data_config.num_epochs": 0,
        "train_config.num_steps": 20, "train_config.save_checkpoints_steps": 1000,
        "train_config.log_step_count_steps": 10, "export_config.exporter_type": "final",
        **edits}).config


@pytest.fixture(scope="module")
def batches(data, tmp_path_factory) -> dict[str, dict[str, tf.Tensor]]:
    """The first 32 rows of the flat, sequence and image train slices, every input column
    parsed (one reader each: readers are slow to start)."""
    model_dir = str(tmp_path_factory.mktemp("batches"))
    out = {}
    for kind, name, options in (("flat", "dssm_senet", {}), ("seq", "pdn", {"sequence": True}),
                                ("image", "cmbf", {"image": True})):
        text = with_image(sample_text(name)) if kind == "image" else sample_text(name)
        config = config_of(text, data, model_dir, **options)
        columns = [f.input_name for f in config.data_config.input_fields]
        reader = build_reader(config.data_config, config.train_input_path,
                              build_column_plan(config, columns))
        out[kind] = next(iter(reader.make_dataset(32, num_epochs=1, shuffle=False)))
    return out


def model_and_batch(config, batches: dict[str, dict[str, tf.Tensor]]):
    """The model of `config` and the cached batch of its train input."""
    tf.random.set_seed(1)
    kind = ("image" if "image" in config.train_input_path else
            "seq" if "seq" in config.train_input_path else "flat")
    return build_model(config, SAMPLES), batches[kind]


# -- every sample parses and builds -----------------------------------------------------------
@pytest.mark.parametrize("name", SAMPLE_NAMES)
def test_sample_builds_and_scores_a_batch(name, data, tmp_path, batches):
    config = config_of(sample_text(name), data, str(tmp_path), sequence=name in SEQUENCE_SAMPLES)
    model, batch = model_and_batch(config, batches)
    outputs = model(batch, training=True)
    loss = model.loss(outputs, batch)
    assert np.isfinite(float(loss))
    # evaluation reads each task's head (own-loss models have a plain binary one)
    assert [task.metric_classes for task in model.tasks] == [1] * len(model.tasks)
    served = model.serving_outputs(model(batch, training=False))
    assert served and all(np.isfinite(v.numpy()).all() for v in served.values()
                          if v.dtype.is_floating)


# -- DSSM_SENet and DAT ---------------------------------------------------------------------
def test_dssm_senet_scales_the_similarity(data, tmp_path, batches):
    model, batch = model_and_batch(config_of(sample_text("dssm_senet"), data, str(tmp_path)),
                                   batches)
    model.similarity_scale.weight.assign(-2.0)
    model.similarity_scale.bias.assign(0.5)
    out = model(batch, training=False)
    user, item = out["user_emb"].numpy(), out["item_emb"].numpy()
    np.testing.assert_allclose(np.linalg.norm(user, axis=1), 1.0, rtol=1e-5)
    logits = user @ item.T / 0.05 * 2.0 + 0.5
    np.testing.assert_allclose(out["logits"].numpy(), np.diag(logits), rtol=1e-4, atol=1e-4)
    ids = batch["movie_id"].numpy()
    valid = (ids[:, None] != ids[None, :]) | np.eye(len(ids), dtype=bool)
    positive = batch["label"].numpy() > 0
    expected = softmax_ce(logits, valid, np.arange(len(ids)))[positive].mean()
    assert float(model.loss(out, batch)) == pytest.approx(expected, rel=1e-4)


@pytest.mark.parametrize("ignore,columns", [("false", 32 + 8), ("true", 1 + 8)])
def test_sampled_softmax_with_and_without_in_batch_negatives(ignore, columns, data, tmp_path, batches):
    text = sample_text("dssm_senet").replace("scale_simi: true",
                                             f"scale_simi: true ignore_in_batch_neg_sam: {ignore}")
    model, batch = model_and_batch(config_of(text, data, str(tmp_path), **sampler(data)), batches)
    out = model(batch, training=True)
    scores, valid, _ = model.candidates(out, batch)
    assert scores.shape == (32, columns) and valid.shape == (32, columns)


def test_ignore_in_batch_negatives_needs_a_sampler(data, tmp_path):
    text = sample_text("dat").replace("simi_func: COSINE",
                                      "simi_func: COSINE ignore_in_batch_neg_sam: true")
    with pytest.raises(ConfigError, match="needs data_config.negative_sampler"):
        config_of(text, data, str(tmp_path))


def test_dat_adds_the_mimic_losses_of_positive_rows(data, tmp_path, batches):
    model, batch = model_and_batch(config_of(sample_text("dat"), data, str(tmp_path)), batches)
    out = model(batch, training=False)
    user, item = out["user_emb"].numpy(), out["item_emb"].numpy()
    a_u, a_i = out["user_augment"].numpy(), out["item_augment"].numpy()
    positive = batch["label"].numpy() > 0
    ids = batch["movie_id"].numpy()
    valid = (ids[:, None] != ids[None, :]) | np.eye(len(ids), dtype=bool)
    softmax = softmax_ce(user @ item.T / 0.05, valid, np.arange(len(ids)))[positive].mean()
    mimic = (((a_u - item) ** 2).mean(1)[positive].mean()
             + ((a_i - user) ** 2).mean(1)[positive].mean())
    assert float(model.loss(out, batch)) == pytest.approx(softmax + mimic, rel=1e-4)
    # the augmented vectors are the user_id / movie_id embeddings, trained by the mimic loss
    with tf.GradientTape() as tape:
        loss = model.loss(model(batch, training=True), batch)
    table = model.feature_layer.deep_tables["user_id"].weights
    assert tape.gradient(loss, table) is not None


def test_dat_config_errors(data, tmp_path):
    text = sample_text("dat")
    with pytest.raises(ConfigError, match="set loss_type: SOFTMAX_CROSS_ENTROPY"):
        config_of(text.replace("loss_type: SOFTMAX_CROSS_ENTROPY", "loss_type: CLASSIFICATION"),
                  data, str(tmp_path))
    narrow = text.replace('input_names: "user_id" feature_type: IdFeature embedding_dim: 32',
                          'input_names: "user_id" feature_type: IdFeature embedding_dim: 16')
    with pytest.raises(ValueError, match="'user_id_augment' is 16 wide"):
        build_model(config_of(narrow, data, str(tmp_path)), SAMPLES)


# -- MultiTowerRecall -----------------------------------------------------------------------
def test_multi_tower_recall_pairs_users_with_sampled_items(data, tmp_path, batches):
    config = config_of(sample_text("multi_tower_recall"), data, str(tmp_path), **sampler(data))
    model, batch = model_and_batch(config, batches)
    out = model(batch, training=True)
    negatives, valid = out["negative_logits"].numpy(), out["negative_valid"].numpy()
    assert negatives.shape == (32, 8) and valid.shape == (32, 8)
    labels = batch["label"].numpy().astype(np.float64)
    logits = out["logits"].numpy()

    def bce(y, x):
        return np.maximum(x, 0) - x * y + np.log1p(np.exp(-np.abs(x)))

    total = bce(labels, logits).sum() + (bce(0.0, negatives) * valid).sum()
    expected = total / (len(labels) + valid.sum())
    assert float(model.loss(out, batch)) == pytest.approx(expected, rel=1e-4)
    # evaluation scores the rows alone
    assert "negative_logits" not in model(batch, training=False)


@pytest.mark.parametrize("flag", [True, False])
def test_multi_tower_recall_user_attention_per_drawn_item(flag, data, tmp_path, batches):
    """negative_sampler: true on the user group: a pair (row i, drawn item) is scored with the
    user's attention keyed by the drawn item, as if the item were the row's own."""
    text = sample_text("multi_tower_recall").replace(
        '  features { input_names: "zip_id"',
        '  features { input_names: "zip_id" feature_name: "zip_seq" feature_type: SequenceFeature'
        ' separator: "|" embedding_dim: 16 hash_bucket_size: 2000 }\n'
        '  features { input_names: "zip_id"').replace(
        '    wide_deep: DEEP\n  }\n  feature_groups {\n    group_name: "item"',
        f'    wide_deep: DEEP\n    negative_sampler: {str(flag).lower()}\n'
        '    sequence_features { group_name: "seq" seq_att_map { key: "movie_id" '
        'hist_seq: "zip_seq" } seq_dnn { hidden_units: [8, 1] use_bn: false } }\n'
        '  }\n  feature_groups {\n    group_name: "item"')
    text = text.replace("] }", "] use_bn: false }")  # every tower MLP: no batch statistics
    with open(data.items, encoding="utf-8") as f:
        header, item = f.readline(), f.readline()
    table = tmp_path / "one_item.txt"
    table.write_text(header + item, encoding="utf-8")
    config = config_of(text, data, str(tmp_path), **sampler(data, num_sample=2))
    config.data_config.negative_sampler.input_path = str(table)
    model, batch = model_and_batch(config, batches)
    out = model(batch, training=True)
    attrs = item.rstrip("\n").split("\t")[2].split(";")
    as_own = dict(batch, **{c: tf.fill(tf.shape(batch[c]), tf.constant(v, batch[c].dtype)
                                       if batch[c].dtype == tf.string else
                                       tf.cast(float(v), batch[c].dtype))
                            for c, v in zip(ITEM_COLUMNS, attrs)})
    expected = model(as_own, training=False)["logits"].numpy()
    drawn = out["negative_logits"].numpy()
    np.testing.assert_allclose(drawn[:, 0], drawn[:, 1], rtol=1e-5)
    assert np.allclose(drawn[:, 0], expected, rtol=1e-4, atol=1e-5) == flag


def test_group_negative_sampler_only_where_read(data, tmp_path):
    text = sample_text("dssm_senet").replace('group_name: "user"',
                                             'group_name: "user" negative_sampler: true', 1)
    with pytest.raises(ConfigError, match="negative_sampler is not supported on group 'user' of "
                                          "DSSM_SENet"):
        config_of(text, data, str(tmp_path))


# -- PDN ------------------------------------------------------------------------------------
def test_pdn_sums_the_paths(data, tmp_path, batches):
    text = "\n".join(line for line in sample_text("pdn").splitlines()
                     if "direct_" not in line and "bias" not in line)
    model, batch = model_and_batch(config_of(text, data, str(tmp_path), sequence=True),
                                   batches)
    out = model(batch, training=False)
    trigger, sim = out["trigger_out"].numpy(), out["sim_out"].numpy()
    lengths = [len([v for v in h.decode().split(";") if v]) for h in batch["hist_movie_ids"].numpy()]
    for row, length in enumerate(lengths):
        assert (trigger[row, :length] > 0).all() and not trigger[row, length:].any()
        assert not sim[row, length:].any()
    probs = np.clip(1 - np.exp(-(trigger * sim).sum(1)), 1e-7, 1 - 1e-7)
    np.testing.assert_allclose(out["probs"].numpy(), probs, rtol=1e-4, atol=1e-6)
    np.testing.assert_allclose(sigmoid(out["logits"].numpy()), probs, rtol=1e-3, atol=1e-6)


def test_pdn_config_errors(data, tmp_path):
    text = sample_text("pdn")
    with pytest.raises(ConfigError, match="last hidden_units entry must be 1"):
        config_of(text.replace("trigger_dnn { hidden_units: [32, 1] }",
                               "trigger_dnn { hidden_units: [32, 2] }"), data, str(tmp_path),
                  sequence=True)
    with pytest.raises(ConfigError, match="feature group named 'bias'"):
        config_of(text.replace('group_name: "bias"', 'group_name: "position"'), data,
                  str(tmp_path), sequence=True)


# -- CMBF and Uniter ------------------------------------------------------------------------
@pytest.mark.parametrize("fields,tokens", [
    ({}, 16),                                                  # image_feature_dim tokens
    ({"image_feature_patch_num": "2"}, 2),                     # patches of the one vector
    ({"image_self_attention_layer_num": "0"}, 1),              # projected, fused as is
    ({"cross_modal_layer_num": "0", "text_self_attention_layer_num": "0"}, 16),
])
def test_cmbf_image_variants(fields, tokens, data, tmp_path, batches):
    config = config_of(with_image(sample_text("cmbf"), **fields), data, str(tmp_path), image=True)
    model, batch = model_and_batch(config, batches)
    image = model.fusion._image(model.feature_layer(batch), training=False)
    assert image.shape[:2] == (32, tokens)
    logits = model(batch, training=True)["logits"].numpy()
    assert logits.shape == (32,) and np.isfinite(logits).all()


def test_cmbf_and_uniter_config_errors(data, tmp_path):
    with pytest.raises(ConfigError, match="which multi_head_num .3. heads must divide"):
        config_of(sample_text("cmbf").replace("multi_head_num: 2\n", "multi_head_num: 3\n", 1),
                  data, str(tmp_path))
    with pytest.raises(ConfigError, match="multiple of num_attention_heads"):
        config_of(sample_text("uniter").replace("num_attention_heads: 2", "num_attention_heads: 3"),
                  data, str(tmp_path))
    with pytest.raises(ConfigError, match="feature groups image, general, text, other"):
        config_of(sample_text("uniter").replace('group_name: "general"', 'group_name: "a"')
                  .replace('group_name: "text"', 'group_name: "b"')
                  .replace('group_name: "other"', 'group_name: "c"'), data, str(tmp_path))
    short = sample_text("cmbf").replace("max_position_embeddings: 16", "max_position_embeddings: 8")
    with pytest.raises(ValueError, match=r"max_position_embeddings \(8\) must be >= the longest"):
        build_model(config_of(short, data, str(tmp_path)), SAMPLES)


def test_cmbf_flat_form_of_older_easyrec(data, tmp_path):
    nested = sample_text("cmbf")
    start, end = nested.index("    config {\n"), nested.index("    final_dnn {")
    block = nested[start:end]
    body = block[len("    config {\n"):block.rindex("    }")]
    flat = nested.replace(block, body)
    want = config_of(nested, data, str(tmp_path)).model_config.cmbf
    got = config_of(flat, data, str(tmp_path)).model_config.cmbf
    assert not got.HasField("config") and flat_fields(got)
    assert tower_config(got) == want.config
    with pytest.raises(ConfigError, match="not both: multi_head_num") as info:
        config_of(nested.replace("    final_dnn {", "    multi_head_num: 2\n    final_dnn {"),
                  data, str(tmp_path))
    assert info.value.field == "model_config.cmbf.multi_head_num"
    with pytest.raises(ConfigError, match="which multi_head_num .3. heads must divide") as info:
        config_of(flat.replace("multi_head_num: 2\n", "multi_head_num: 3\n", 1), data,
                  str(tmp_path))
    assert info.value.field.startswith("model_config.cmbf.") and ".config." not in info.value.field


def test_uniter_segments_and_rows_apart(data, tmp_path, batches):
    config = config_of(with_image(sample_text("uniter")), data, str(tmp_path), image=True)
    model, batch = model_and_batch(config, batches)
    # image, general, title, genres: four token types
    assert model.fusion.token_types.weights.shape == (4, 32)
    out = model(batch, training=False)["logits"].numpy()
    head = {k: v[:4] for k, v in batch.items() if v.shape.rank}
    np.testing.assert_allclose(model(head, training=False)["logits"].numpy(), out[:4],
                               rtol=1e-4, atol=1e-5)


@pytest.mark.parametrize("bottom", [
    "bottom_uniter { hidden_size: 16 num_attention_heads: 2 num_hidden_layers: 1 "
    "intermediate_size: 32 max_position_embeddings: 16 }",
    "bottom_cmbf { multi_head_num: 2 text_multi_head_num: 2 text_head_size: 8 "
    "max_position_embeddings: 16 }"])
def test_dbmtl_on_a_cmbf_or_uniter_bottom(bottom, data, tmp_path, batches):
    text = sample_text("dbmtl")
    for name in ("genres", "title"):
        text = text.replace(f'input_names: "{name}" feature_type: TagFeature',
                            f'input_names: "{name}" feature_type: SequenceFeature max_seq_len: 8')
    start, end = text.index("  feature_groups {"), text.index("  dbmtl {")
    text = (text[:start] + '  feature_groups { group_name: "general" feature_names: ["user_id", '
            '"movie_id", "gender", "age", "job_id", "zip_id", "year"] }\n'
            '  feature_groups { group_name: "text" feature_names: ["title", "genres"] }\n'
            + text[end:])
    text = text.replace("bottom_dnn { hidden_units: [256] use_bn: false }", bottom)
    model, batch = model_and_batch(config_of(text, data, str(tmp_path), sequence=True), batches)
    out = model(batch, training=True)
    assert out["logits_ctr"].shape == (32,) and out["logits_top"].shape == (32,)
    assert np.isfinite(float(model.loss(out, batch)))
    assert list(model.feature_layer.unpooled_groups) == ["text"]


# -- DropoutNet -----------------------------------------------------------------------------
def test_row_dropout_drops_whole_rows():
    x = tf.ones([1000, 3])
    dropped = row_dropout(x, 0.5, training=True).numpy()
    assert set(np.unique(dropped)) == {0.0, 2.0}
    assert (dropped == dropped[:, :1]).all() and 0.4 < (dropped[:, 0] == 0).mean() < 0.6
    np.testing.assert_array_equal(row_dropout(x, 0.5, training=False).numpy(), x.numpy())


def test_dropoutnet_losses_add_up(data, tmp_path, batches):
    text = sample_text("dropoutnet")
    start = text.index("  losses {")
    end = text.index("  dropoutnet {")
    single = (text[:start] + "  losses { loss_type: CLASSIFICATION weight: 0.5 }\n"
              "  losses { loss_type: PAIR_WISE_LOSS weight: 2.0 }\n" + text[end:])
    model, batch = model_and_batch(config_of(single, data, str(tmp_path), sequence=True),
                                   batches)
    out = model(batch, training=False)
    cosine = (out["user_emb"].numpy() * out["item_emb"].numpy()).sum(1)
    np.testing.assert_allclose(out["logits"].numpy(), cosine, rtol=1e-5, atol=1e-6)
    labels = batch["label"].numpy().astype(np.float64)
    ce = np.mean(np.maximum(cosine, 0) - cosine * labels + np.log1p(np.exp(-np.abs(cosine))))
    pairs = [(i, j) for i in range(32) for j in range(32) if labels[i] > labels[j]]
    pair = np.mean([np.log1p(np.exp(-(cosine[i] - cosine[j]))) for i, j in pairs])
    assert float(model.loss(out, batch)) == pytest.approx(0.5 * ce + 2.0 * pair, rel=1e-4)


def test_losses_and_embedding_loss_types_only_where_read(data, tmp_path):
    losses = "  losses { loss_type: CLASSIFICATION }\n  multi_tower_recall {"
    with pytest.raises(ConfigError, match="losses is not supported: model_class "
                                          "MultiTowerRecall is trained by"):
        config_of(sample_text("multi_tower_recall").replace("  multi_tower_recall {", losses),
                  data, str(tmp_path))
    with pytest.raises(ConfigError, match="loss_type CIRCLE_LOSS is not supported"):
        config_of(sample_text("multi_tower_recall").replace("loss_type: CLASSIFICATION",
                                                            "loss_type: CIRCLE_LOSS"),
                  data, str(tmp_path))


# -- CoMetricLearningI2I --------------------------------------------------------------------
def test_co_metric_learning_outputs_and_config_errors(data, tmp_path, batches):
    config = config_of(sample_text("co_metric_learning_i2i"), data, str(tmp_path))
    model, batch = model_and_batch(config, batches)
    out = model(batch, training=False)
    np.testing.assert_allclose(np.linalg.norm(out["norm_emb"].numpy(), axis=1), 1.0, rtol=1e-5)
    np.testing.assert_array_equal(out["sample_id"].numpy(), batch["movie_id"].numpy())
    assert set(model.serving_outputs(out)) == {"float_emb", "norm_emb", "sample_id"}
    assert float(model.loss(out, batch)) == pytest.approx(
        float(circle_loss(out["float_emb"], batch["label"], batch["user_id"], 0.25, 32.0)),
        rel=1e-5)
    text = sample_text("co_metric_learning_i2i")
    ms_text = text.replace("loss_type: CIRCLE_LOSS", "loss_type: MULTI_SIMILARITY_LOSS").replace(
        "circle_loss { margin: 0.25 gamma: 32 }", "multi_similarity_loss { beta: 10 }")
    ms_model, _ = model_and_batch(config_of(ms_text, data, str(tmp_path)), batches)
    ms_out = ms_model(batch, training=False)
    assert float(ms_model.loss(ms_out, batch)) == pytest.approx(
        float(multi_similarity_loss(ms_out["float_emb"], batch["label"], batch["user_id"], 2.0,
                                    10.0, 1.0)), rel=1e-5)
    with pytest.raises(ConfigError, match="reads metric_learning.multi_similarity_loss"):
        config_of(text.replace("loss_type: CIRCLE_LOSS", "loss_type: MULTI_SIMILARITY_LOSS"),
                  data, str(tmp_path))
    with pytest.raises(ConfigError, match="auc is not supported"):
        config_of(text, data, str(tmp_path), **{"eval_config.metrics_set": [{"auc": {}}]})
    config_of(text, data, str(tmp_path),  # EasyRec's in-batch metric-learning recall
              **{"eval_config.metrics_set": [{"recall_at_topk": {"topk": 5}}]})
    highway = text.replace('input: "item"', 'input: "item" highway { input: "item" emb_size: 8 }')
    hw_model, _ = model_and_batch(config_of(highway, data, str(tmp_path)), batches)
    assert hw_model.tower.mlp.dense_layers[0].kernel.shape[0] == 64 + 8
    assert np.isfinite(hw_model(batch, training=True)["float_emb"].numpy()).all()


# -- short trainings with export ----------------------------------------------------------------
# what the samples (trained and served by the zoo test) leave out of the training graph: the
# image RawFeature through reader, fusion and export; negatives drawn inside a train step of a
# model that is not a matching model
VARIANTS = {
    "cmbf_image": ("cmbf", {"image": True}),
    "multi_tower_recall_sampled": ("multi_tower_recall", {"sampled": True}),
}


@pytest.mark.slow
@pytest.mark.parametrize("variant", sorted(VARIANTS))
def test_variant_trains_and_exports(variant, data, tmp_path):
    name, how = VARIANTS[variant]
    text = sample_text(name)
    edits = sampler(data) if how.get("sampled") else {}
    if how.get("image"):
        text = with_image(text)
    config = config_of(text, data, str(tmp_path / "model"), image=bool(how.get("image")),
                       **edits)
    tf.random.set_seed(3)
    trainer = Trainer(config, base_dir=SAMPLES)
    results = trainer.train()
    assert np.isfinite(results["loss"])
    exports = glob.glob(os.path.join(config.model_dir, "export", "final", "[0-9]*"))
    assert len(exports) == 1
    batch = next(iter(trainer.evaluator._reader.make_dataset(8, num_epochs=1, shuffle=False)))
    inputs = {n: batch[n] for n in trainer.model.serving_input_names}
    expected = trainer.model.serving_outputs(trainer.model(inputs, training=False))
    served = tf.saved_model.load(exports[0]).signatures["serving_default"](**inputs)
    for key, value in expected.items():
        np.testing.assert_allclose(served[key].numpy(), value.numpy(), rtol=1e-4, atol=1e-5)
