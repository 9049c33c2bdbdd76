"""Multi-task models (MMoE, ESMM, PLE, DBMTL): per-task outputs, losses, metrics, export and
config checks."""
from __future__ import annotations

import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from pipeline_helpers import exporting_sample_config

from easy_rec.config.errors import ConfigError
from easy_rec.export.exporter import list_exports
from easy_rec.input.reader import build_reader
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.models.esmm import product_logit
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.training.evaluation.evaluator import Evaluator
from easy_rec.training.trainer import Trainer

LR = ("train_config.optimizer_config[0].adam_optimizer.learning_rate"
      ".exponential_decay_learning_rate.initial_learning_rate")


@pytest.fixture(scope="module")
def seq_data(tmp_path_factory) -> tuple[str, str]:
    """(train, test) slices of the MovieLens sequence tables: 3,000 / 400 rows."""
    folder = tmp_path_factory.mktemp("seq_data")
    paths = []
    for name, rows in (("movielens_seq_train.csv", 3000), ("movielens_seq_test.csv", 400)):
        path = folder / name
        path.write_text("".join(sample_rows(name, rows)), encoding="utf-8")
        paths.append(str(path))
    return paths[0], paths[1]


def config_for(model: str, tmp_path, seq_data, **edits):
    """The model's sample config on the data slices, small batches, no checkpoints."""
    return exporting_sample_config(model, str(tmp_path / model), *seq_data, **{
        "data_config.batch_size": 64, "train_config.num_steps": 40, **edits})


def first_batch(config, model, size: int = 64) -> dict[str, tf.Tensor]:
    reader = build_reader(config.data_config, config.eval_input_path,
                          model_column_plan(config, model))
    return next(iter(reader.make_dataset(size, num_epochs=1, shuffle=False)))


def bce(labels: np.ndarray, probs: np.ndarray) -> float:
    probs = np.clip(probs.astype(np.float64), 1e-12, 1 - 1e-12)
    return float(np.mean(-(labels * np.log(probs) + (1 - labels) * np.log(1 - probs))))


# -- MMoE with a classification and an L2 regression task: train, evaluate, export ------------
@pytest.fixture(scope="module")
def mixed_mmoe(tmp_path_factory, seq_data):
    """MMoE on ctr (label) + rating (L2_LOSS, own rmse metric), trained 40 steps."""
    tmp_path = tmp_path_factory.mktemp("mixed")
    config = config_for("mmoe", tmp_path, seq_data, **{
        "data_config.label_fields": ["label", "rating"],
        "model_config.mmoe.task_towers[1].tower_name": "rating",
        "model_config.mmoe.task_towers[1].label_name": "rating",
        "model_config.mmoe.task_towers[1].loss_type": "L2_LOSS",
        "model_config.mmoe.task_towers[1].metrics_set": [{"root_mean_squared_error": {}}],
        "model_config.mmoe.task_towers[1].weight": 0.1,
        # towers without batch norm: after 40 steps TF's moving statistics (used at evaluation)
        # still hold 0.99^40 = 2/3 of their start values 0 / 1
        "model_config.mmoe.task_towers[0].dnn.use_bn": False,
        "model_config.mmoe.task_towers[1].dnn.use_bn": False,
        LR: 0.005})
    tf.random.set_seed(7)
    trainer = Trainer(config, base_dir=SAMPLES)
    initial = trainer.evaluator.evaluate(0)
    return config, trainer, initial, trainer.train()


def test_mixed_mmoe_learns_both_tasks(mixed_mmoe):
    _, _, initial, results = mixed_mmoe
    assert {"auc_ctr", "gauc_ctr", "logloss_ctr", "accuracy_ctr", "rmse_rating"} <= set(results)
    metrics = [k for k in results if not k.startswith("loss/loss/")]
    assert not any(k.endswith("_rating") and k != "rmse_rating" for k in metrics), results
    # each task's loss term under EasyRec's name, suffixed with its tower
    assert {"loss/loss/cross_entropy_loss_ctr", "loss/loss/l2_loss_rating"} <= set(results)
    assert results["rmse_rating"] < 0.5 * initial["rmse_rating"], (initial, results)
    assert results["logloss_ctr"] < initial["logloss_ctr"], (initial, results)
    assert results["auc_ctr"] > 0.55, results


def test_mixed_mmoe_export_has_outputs_per_task(mixed_mmoe):
    config, trainer, _, _ = mixed_mmoe
    root = os.path.join(config.model_dir, "export", "final")
    loaded = tf.saved_model.load(os.path.join(root, list_exports(root)[-1]))
    signature = loaded.signatures["serving_default"]
    assert set(signature.structured_outputs) == {"probs_ctr", "logits_ctr", "y_rating"}
    batch = first_batch(config, trainer.model, 16)
    inputs = {name: batch[name] for name in signature.structured_input_signature[1]}
    served = signature(**inputs)
    expected = trainer.model(batch)
    for key in ("probs_ctr", "y_rating"):
        np.testing.assert_allclose(served[key], expected[key], rtol=1e-5, atol=1e-5)


def test_task_weights_scale_the_loss(mixed_mmoe):
    config, trainer, _, _ = mixed_mmoe
    model = trainer.model
    batch = first_batch(config, model)
    outputs = model(batch)
    towers = model.params.task_towers
    weights = [t.weight for t in towers]
    try:
        towers[0].weight, towers[1].weight = 1.0, 0.0
        ctr_only = float(model.loss(outputs, batch))
        towers[1].weight = 1.0
        both = float(model.loss(outputs, batch))
        towers[1].weight = 3.0
        tripled = float(model.loss(outputs, batch))
    finally:
        towers[0].weight, towers[1].weight = weights
    labels = batch["label"].numpy()
    assert ctr_only == pytest.approx(bce(labels, outputs["probs_ctr"].numpy()), rel=1e-4)
    mse = float(np.mean((outputs["y_rating"].numpy() - batch["rating"].numpy()) ** 2))
    assert both - ctr_only == pytest.approx(mse, rel=1e-4)
    assert tripled - ctr_only == pytest.approx(3 * mse, rel=1e-4)


# -- ESMM --------------------------------------------------------------------------------
def test_esmm_ctcvr_is_ctr_times_cvr_and_loss_uses_every_sample(tmp_path, seq_data):
    config = config_for("esmm", tmp_path, seq_data)
    tf.random.set_seed(3)
    model = build_model(config, SAMPLES)
    batch = first_batch(config, model)
    outputs = model(batch)
    ctr, cvr = outputs["probs_ctr"].numpy(), outputs["probs_cvr"].numpy()
    np.testing.assert_array_equal(outputs["probs_ctcvr"].numpy(), ctr * cvr)
    np.testing.assert_allclose(tf.sigmoid(outputs["logits_ctcvr"]), ctr * cvr, rtol=1e-5)
    assert [t.name for t in model.tasks] == ["ctr", "ctcvr"]
    assert set(model.serving_outputs(outputs)) == {
        "probs_ctr", "logits_ctr", "probs_cvr", "logits_cvr", "probs_ctcvr", "logits_ctcvr"}
    click, top = batch["label"].numpy(), batch["top_rating"].numpy()
    expected = bce(click, ctr) + bce(top, ctr * cvr)  # over all samples, clicked or not
    assert float(model.loss(outputs, batch)) == pytest.approx(expected, rel=1e-4)
    # the cvr tower learns from unclicked samples too (through p_ctcvr)
    unclicked = {k: tf.boolean_mask(v, click == 0) for k, v in batch.items() if v.shape.rank}
    with tf.GradientTape() as tape:
        loss = model.loss(model(unclicked, training=True), unclicked)
    grads = tape.gradient(loss, model.cvr_head.output.kernel)
    assert float(tf.norm(grads)) > 0


def test_product_logit_is_stable_at_the_extremes():
    a = tf.constant([-60.0, -5.0, 0.0, 3.0, 30.0, 80.0])
    b = tf.constant([-60.0, 2.0, 0.0, 40.0, 30.0, 80.0])
    with tf.GradientTape() as tape:
        tape.watch([a, b])
        logits = product_logit(a, b)
        loss = tf.reduce_sum(tf.nn.sigmoid_cross_entropy_with_logits(
            labels=tf.constant([0.0, 1.0, 1.0, 0.0, 1.0, 1.0]), logits=logits))
    grads = tape.gradient(loss, [a, b])
    assert np.isfinite(logits.numpy()).all() and np.isfinite(loss.numpy())
    assert all(np.isfinite(g.numpy()).all() for g in grads)
    p = tf.sigmoid(a) * tf.sigmoid(b)
    np.testing.assert_allclose(tf.sigmoid(logits)[:4], p[:4], rtol=1e-5)


# -- PLE and DBMTL -----------------------------------------------------------------------
def test_ple_and_dbmtl_outputs_and_per_task_metrics(tmp_path, seq_data):
    for name, edits in (("ple", {"model_config.ple.extraction_networks[1].share_num": 0}),
                        ("dbmtl", {})):
        config = config_for(name, tmp_path, seq_data, **edits)
        model = build_model(config, SAMPLES)
        outputs = model(first_batch(config, model, 32), training=True)
        for task in ("ctr", "top"):
            assert outputs[f"probs_{task}"].shape == (32,)
        results = Evaluator(config, model, config.eval_input_path,
                            model_column_plan(config, model)).evaluate(0)
        assert {"auc_ctr", "gauc_ctr", "logloss_ctr", "accuracy_ctr", "auc_top",
                "logloss_top"} <= set(results), results
        if name == "dbmtl":  # the top tower's own metrics_set replaces eval_config's
            assert "gauc_top" not in results and "accuracy_top" not in results


def test_dbmtl_relation_feeds_dependent_tower(tmp_path, seq_data):
    config = config_for("dbmtl", tmp_path, seq_data, **{"model_config.dbmtl.num_expert": 0})
    model = build_model(config, SAMPLES)
    assert model.mmoe is None
    top_head = model.heads[1]
    # top's relation MLP reads its own tower output (64) and ctr's relation output (32)
    assert top_head.dnn.dense_layers[0].kernel.shape[0] == 64 + 32
    batch = first_batch(config, model, 16)
    with tf.GradientTape() as tape:
        top_logits = model(batch, training=True)["logits_top"]
    grads = tape.gradient(top_logits, model.heads[0].dnn.dense_layers[0].kernel)
    assert grads is not None and float(tf.norm(grads)) > 0


# -- config checks -----------------------------------------------------------------------
def sample_text(model: str) -> str:
    with open(os.path.join(SAMPLES, f"{model}_on_movielens.config"), encoding="utf-8") as f:
        return f.read()


def config_error(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, path="mt.config")
    return info.value


def line_of(needle: str, text: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


@pytest.mark.parametrize("model,block", [("mmoe", "mmoe"), ("ple", "ple"), ("dbmtl", "dbmtl")])
def test_unknown_label_name_names_field_and_line(model, block):
    text = sample_text(model).replace('label_name: "top_rating"', 'label_name: "clicks"')
    error = config_error(text)
    assert error.field == f"model_config.{block}.task_towers[1].label_name"
    assert error.line == line_of('label_name: "clicks"', text)
    assert error.path == "mt.config" and "'clicks'" in error.reason and "top_rating" in error.reason


def test_esmm_config_errors():
    text = sample_text("esmm").replace('label_name: "top_rating"', 'label_name: "buy"')
    error = config_error(text)
    assert (error.field, error.line) == ("model_config.esmm.cvr_tower.label_name",
                                         line_of('label_name: "buy"', text))
    text = sample_text("esmm").replace('tower_name: "cvr"', 'tower_name: "ctcvr"')
    assert config_error(text).field == "model_config.esmm.cvr_tower.tower_name"


def test_tower_and_network_errors():
    text = sample_text("mmoe").replace('tower_name: "top"', 'tower_name: "ctr"')
    error = config_error(text)
    assert error.field == "model_config.mmoe.task_towers[1].tower_name"
    assert "twice" in error.reason
    text = sample_text("dbmtl").replace('relation_tower_names: "ctr"', 'relation_tower_names: "cvr"')
    error = config_error(text)
    assert error.field == "model_config.dbmtl.task_towers[1].relation_tower_names[0]"
    assert error.line == line_of('relation_tower_names: "cvr"', text)
    text = sample_text("ple").replace("share_expert_net { hidden_units: [64]",
                                      "share_expert_net { hidden_units: [32]")
    assert config_error(text).field == (
        "model_config.ple.extraction_networks[1].share_expert_net.hidden_units")
    text = sample_text("ple").replace("share_num: 2\n      task_expert_net { hidden_units: [128",
                                      "share_num: 0\n      task_expert_net { hidden_units: [128")
    assert config_error(text).field == "model_config.ple.extraction_networks[0].share_num"


def test_regression_task_needs_regression_metrics():
    text = sample_text("mmoe").replace(
        'label_name: "top_rating"', 'label_name: "top_rating"\n      loss_type: L2_LOSS')
    error = config_error(text)
    assert error.field == "eval_config.metrics_set[0]" and "'top'" in error.reason
    assert "metrics_set" in error.reason


def test_dbmtl_use_feature_bn_normalises_group_all_before_bottom_dnn():
    text = sample_text("dbmtl").replace("  dbmtl {\n", "  dbmtl {\n    use_feature_bn: true\n", 1)
    config = parse_pipeline_config_text(text, "dbmtl.config").config
    model = build_model(config, SAMPLES)
    width = model.feature_layer.group_dim("all")
    assert model.bottom.input_bn is not None and model.bottom.input_bn.gamma.shape == (width,)
    fused = text.replace("    bottom_dnn { hidden_units: [256] use_bn: false }\n",
                         "    bottom_uniter { hidden_size: 16 }\n")
    assert fused != text
    assert config_error(fused).field == "model_config.dbmtl.use_feature_bn"
