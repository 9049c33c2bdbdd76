"""The samples of the newer models and training options (SimpleMultiTask, RocketLaunching, the
older MMoE experts form, several losses with Fixed / Uncertainty weighting, pairwise and
listwise losses, knowledge distillation, variational dropout).

Fast: each sample's model takes a gradient step on one batch (outputs, losses, gradients).
Slow: each trains 20 steps on a data slice, evaluates and exports, in one shared fixture."""
from __future__ import annotations

import glob
import os
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows

from easy_rec.input.reader import build_reader
from easy_rec.models.base import RankModel
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.models.mmoe import ExpertTowers
from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.trainer import Trainer

SAMPLE_FILES = {
    "simple_multi_task": "simple_multi_task_on_movielens.config",
    "rocket_launching": "rocket_launching_on_movielens.config",
    "mmoe_experts": "options/mmoe_experts_on_movielens.config",
    "multi_loss_uncertainty": "options/multi_loss_uncertainty_on_movielens.config",
    "ranking_losses": "options/ranking_losses_on_movielens.config",
    "kd": "options/kd_on_movielens.config",
    "variational_dropout": "options/variational_dropout_on_movielens.config",
}
# trained, evaluated and exported below: the option samples (the zoo test trains the others)
TRAINED_FILES = {
    **{name: path for name, path in SAMPLE_FILES.items() if path.startswith("options/")},
    "dcn_cross_v2": "options/dcn_cross_v2_on_movielens.config",
    # GradNorm differentiates the task gradients: only inside the trainer's tf.function
    "dbmtl_grad_norm": "options/dbmtl_grad_norm_on_movielens.config",
}


@dataclass
class Step:
    """One gradient step of a sample's model on a batch of 64 rows."""

    config: object
    model: RankModel
    batch: dict[str, tf.Tensor]
    outputs: dict[str, tf.Tensor]
    loss: float
    grads: dict[str, tf.Tensor | None]  # by variable name

    def grad_norm(self, name_part: str) -> list[float]:
        return [float(tf.norm(g)) if g is not None else 0.0
                for name, g in self.grads.items() if name_part in name]


def _step(sample: str, folder) -> Step:
    config = load_pipeline_config(os.path.join(SAMPLES, SAMPLE_FILES[sample])).config
    name = os.path.basename(config.eval_input_path)
    rows = folder / name
    rows.write_text("".join(sample_rows(name, 64)), encoding="utf-8")
    tf.random.set_seed(3)
    model = build_model(config, base_dir=SAMPLES)
    reader = build_reader(config.data_config, str(rows), model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(64, num_epochs=1, shuffle=False)))
    with tf.GradientTape() as tape:
        outputs = model(batch, training=True)
        loss = model.loss(outputs, batch) + model.regularization(outputs)
    variables = model.trainable_variables
    grads = dict(zip([v.name for v in variables], tape.gradient(loss, variables)))
    return Step(config, model, batch, outputs, float(loss), grads)


@pytest.fixture(scope="module")
def stepped(tmp_path_factory) -> Callable[[str], Step]:
    """One gradient step of a sample, made on first request."""
    steps: dict[str, Step] = {}

    def get(sample: str) -> Step:
        if sample not in steps:
            steps[sample] = _step(sample, tmp_path_factory.mktemp(sample))
        return steps[sample]

    return get


@pytest.mark.parametrize("sample", sorted(SAMPLE_FILES))
def test_sample_model_takes_a_gradient_step(sample, stepped):
    step = stepped(sample)
    assert np.isfinite(step.loss) and step.loss > 0
    assert any(norm > 0 for norm in step.grad_norm("/"))


def test_simple_multi_task_and_rocket_launching_outputs(stepped):
    step = stepped("simple_multi_task")
    assert {"probs_ctr", "probs_top"} <= set(step.outputs)
    assert all(norm > 0 for norm in step.grad_norm("tower_top"))
    rocket = stepped("rocket_launching")
    # light layers 128, 64 learn from the booster layers of the same width (#1, #2)
    assert rocket.model.hint_pairs == [(0, 1), (1, 2)]
    assert float(rocket.outputs["feature_distillation_loss"]) < 0
    served = rocket.model.serving_outputs(rocket.outputs)
    assert set(served) == {"probs_light", "logits_light", "probs_booster", "logits_booster"}
    # the light net does not train the shared layers: only the booster's loss reaches them
    with tf.GradientTape() as tape:
        outputs = rocket.model(rocket.batch, training=True)
        light_logits = outputs["logits_light"]
    assert tape.gradient(light_logits, rocket.model.share.dense_layers[0].kernel) is None


def test_mmoe_experts_form(stepped):
    model = stepped("mmoe_experts").model
    assert isinstance(model.mmoe, ExpertTowers)
    assert [e.output_dim for e in model.mmoe.experts] == [64, 64, 64]
    assert len(model.mmoe.experts[1].dense_layers) == 3
    assert all(norm > 0 for norm in stepped("mmoe_experts").grad_norm("gate_1"))


def test_uncertainty_weights_and_jrc_task(stepped):
    step = stepped("multi_loss_uncertainty")
    norms = step.grad_norm("uncertainty")
    assert len(norms) == 3 and all(norm > 0 for norm in norms)
    model = step.model
    assert [t.head for t in model.tasks] == ["binary", "jrc"]
    assert model.tasks[1].output_dim == 2 and model.tasks[1].space_label == "label"
    assert step.outputs["logits_top"].shape[-1] == 2 and step.outputs["probs_top"].shape.rank == 1
    assert model.loss_input_names == ["user_id"]


def test_ranking_losses_read_the_session_column(stepped):
    step = stepped("ranking_losses")
    assert model_column_plan(step.config, step.model).loss_keys == ("user_id",)
    assert [len(t.terms) for t in step.model.task_losses] == [3]


def test_kd_adds_the_distillation_loss(stepped):
    step = stepped("kd")
    soft = tf.sigmoid(tf.cast(step.batch["rating"], tf.float32) / 2)
    probs = tf.sigmoid(step.outputs["logits"] / 2)
    expected = -tf.reduce_mean(soft * tf.math.log(probs + 1e-7)
                               + (1 - soft) * tf.math.log(1 - probs + 1e-7))
    got = step.model.distillation(step.outputs, step.batch)  # the kd terms by name
    assert len(got) == 1 and next(iter(got)).startswith("kd_loss")
    assert float(next(iter(got.values()))) == pytest.approx(0.5 * float(expected), rel=1e-5)


def test_variational_dropout_rates_learn(stepped):
    step = stepped("variational_dropout")
    layer = step.model.feature_layer
    assert set(layer.dropouts["deep"]) == {"deep"} and set(layer.dropouts["wide"]) == {"wide"}
    assert layer.dropouts["deep"]["deep"].logit_p.shape == (9,)
    assert all(norm > 0 for norm in step.grad_norm("logit_p"))
    assert float(step.outputs["variational_dropout_loss"]) > 0


# -- slow: train, evaluate, export -----------------------------------------------------------
@dataclass
class Run:
    trainer: Trainer
    before: dict[str, np.ndarray]  # trainable variables by name, before training
    results: dict
    exports: list[str]

    def changed(self, name_part: str) -> list[bool]:
        return [not np.allclose(v.numpy(), self.before[v.name])
                for v in self.trainer.model.trainable_variables if name_part in v.name]


def _run(sample: str, folder) -> Run:
    path = os.path.join(SAMPLES, TRAINED_FILES[sample])
    raw = load_pipeline_config(path).config
    data = {}
    for key, rows in (("train_input_path", 1500), ("eval_input_path", 200)):
        name = os.path.basename(getattr(raw, key))
        data[key] = str(folder / name)
        (folder / name).write_text("".join(sample_rows(name, rows)), encoding="utf-8")
    config = load_pipeline_config(path, {
        "model_dir": str(folder / "model"), **data, "data_config.batch_size": 64,
        "data_config.num_epochs": 0, "train_config.num_steps": 20,
        "train_config.save_checkpoints_steps": 1000, "train_config.log_step_count_steps": 20,
        "export_config.exporter_type": "final"}).config
    tf.random.set_seed(3)
    trainer = Trainer(config, base_dir=SAMPLES)
    before = {v.name: v.numpy().copy() for v in trainer.model.trainable_variables}
    results = trainer.train()
    exports = glob.glob(os.path.join(config.model_dir, "export", "final", "[0-9]*"))
    return Run(trainer, before, results, exports)


@pytest.fixture(scope="module")
def trained(tmp_path_factory) -> Callable[[str], Run]:
    """Trains a sample on first request and keeps it for the module's other tests."""
    runs: dict[str, Run] = {}

    def get(sample: str) -> Run:
        if sample not in runs:
            runs[sample] = _run(sample, tmp_path_factory.mktemp(sample))
        return runs[sample]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("sample", sorted(TRAINED_FILES))
def test_sample_trains_evaluates_and_exports(sample, trained):
    run = trained(sample)
    assert run.results and all(np.isfinite(v) for v in run.results.values()
                               if isinstance(v, float)), run.results
    assert len(run.exports) == 1


@pytest.mark.slow
def test_trained_samples_report_their_metrics_and_learn_their_weights(trained):
    assert all(trained("multi_loss_uncertainty").changed("uncertainty"))
    assert all(trained("variational_dropout").changed("logit_p"))
