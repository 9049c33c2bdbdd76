"""train_config options EasyRec configs use: dead_line, the stop signal file, freeze_gradient,
use_moving_average, summary_model_vars, write_graph, and the refusal of distributed-training
options."""
from __future__ import annotations

import datetime
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from pipeline_helpers import sample_config

from easy_rec.config.errors import ConfigError
from easy_rec.pipeline import load_pipeline_config
from easy_rec.protos import train_pb2
from easy_rec.training.optimization.moving_average import CHECKPOINT_KEY
from easy_rec.training.restore import load_trained_model
from easy_rec.training.stop_signals import (
    STOP_FILE_CHECK_SECS,
    STOP_SIGNAL_FILE,
    StopSignals,
    parse_dead_line,
)
from easy_rec.training.trainer import Trainer


def test_dead_line_formats() -> None:
    local = datetime.datetime(2022, 5, 16, 23, 59, 59).timestamp()
    assert parse_dead_line("20220516 23:59:59") == local
    assert parse_dead_line("1652745599") == 1652745599.0
    with pytest.raises(ValueError, match="YYYYmmdd HH:MM:SS"):
        parse_dead_line("2022-05-16 23:59:59")


def test_stop_signals_follow_the_clock_and_the_stop_file(tmp_path) -> None:
    now = [1_600_000_000.0]
    config = train_pb2.TrainConfig(dead_line="1600000500", enable_oss_stop_signal=True)
    signals = StopSignals(config, str(tmp_path), clock=lambda: now[0])
    assert signals.reason() is None
    (tmp_path / STOP_SIGNAL_FILE).write_text("")
    now[0] += STOP_FILE_CHECK_SECS / 2
    assert signals.reason() is None  # the file is looked for every STOP_FILE_CHECK_SECS
    now[0] += STOP_FILE_CHECK_SECS
    assert "stop signal" in signals.reason()
    now[0] = 1_600_000_501.0
    assert "dead_line" in signals.reason()


@pytest.fixture(scope="module")
def one_run(tmp_path_factory):
    """One short job with a passed dead_line, frozen embeddings, moving averages and gradient
    summaries:
    (config, trainer, final eval results, variable values before training)."""
    tmp = tmp_path_factory.mktemp("train_options")
    train_path, test_path = tmp / "train.csv", tmp / "test.csv"
    train_path.write_text("".join(sample_rows("movielens_train.csv", 2000)), encoding="utf-8")
    test_path.write_text("".join(sample_rows("movielens_test.csv", 200)), encoding="utf-8")
    config = sample_config("deepfm", str(tmp / "m"), str(train_path), str(test_path), **{
        "train_config.num_steps": 6, "data_config.batch_size": 64,
        "export_config.exporter_type": "none", "train_config.dead_line": "20000101 00:00:00"})
    config.train_config.freeze_gradient.append("feature_layer/.*_embedding/")
    config.train_config.optimizer_config[0].use_moving_average = True
    config.train_config.optimizer_config[0].moving_average_decay = 0.5
    config.train_config.summary_model_vars = True
    config.train_config.save_summary_steps = 1
    trainer = Trainer(config, base_dir=SAMPLES)
    before = {v.name: v.numpy() for v in trainer.model.trainable_variables}
    results = trainer.train()
    return config, trainer, results, before


def test_a_passed_dead_line_ends_training_after_one_step(one_run) -> None:
    config, trainer, results, _ = one_run
    assert int(trainer.global_step) == 1
    assert "auc" in results  # the job ends as at num_steps: checkpoint, evaluation
    assert tf.train.latest_checkpoint(config.model_dir).endswith("ckpt-1")


def test_freeze_gradient_keeps_matching_variables(one_run) -> None:
    _, trainer, _, before = one_run
    frozen = [v for v in trainer.model.trainable_variables if "_embedding/" in v.name]
    trained = [v for v in trainer.model.trainable_variables if "dnn/dense_0" in v.name]
    assert frozen and trained
    for var in frozen:
        np.testing.assert_array_equal(var.numpy(), before[var.name], err_msg=var.name)
    assert not np.array_equal(trained[0].numpy(), before[trained[0].name])


def test_moving_average_reaches_checkpoint_readers(one_run) -> None:
    config, trainer, _, before = one_run
    path = tf.train.latest_checkpoint(config.model_dir)
    assert any(n.startswith(f"{CHECKPOINT_KEY}/") for n, _ in tf.train.list_variables(path))
    read, _, _ = load_trained_model(config, base_dir=SAMPLES)
    kernel = next(v for v in read.trainable_variables if "dnn/dense_0/kernel" in v.name)
    raw = next(v for v in trainer.model.trainable_variables if v.name == kernel.name)
    # one step with decay 0.5: the average is halfway between the start and the raw weights
    np.testing.assert_allclose(kernel.numpy(), (before[kernel.name] + raw.numpy()) / 2,
                               rtol=1e-5, atol=1e-7)
    assert not np.allclose(raw.numpy(), kernel.numpy())  # training kept the raw weights


def _train_events(model_dir: str) -> list:
    folder = os.path.join(model_dir, "train")
    return [event for name in sorted(os.listdir(folder))
            for event in tf.compat.v1.train.summary_iterator(os.path.join(folder, name))]


def test_summary_model_vars_and_write_graph(one_run) -> None:
    config, trainer, _, _ = one_run
    tags = {value.tag for event in _train_events(config.model_dir) for value in event.summary.value}
    trained = [v.name.replace(":", "_") for v in trainer.model.trainable_variables
               if "dnn/dense_0" in v.name]
    for name in trained:
        assert f"gradients/{name}" in tags and f"gradient_norm/{name}" in tags
    # frozen embeddings get no gradient, so no gradient summary
    assert not any(t.startswith("gradients/") and "_embedding" in t for t in tags)
    assert any(event.graph_def for event in _train_events(config.model_dir))
    graph = open(os.path.join(config.model_dir, "graph.pbtxt"), encoding="utf-8").read()
    assert "node {" in graph and "dense_0" in graph


def _load(tmp_path, text: str) -> None:
    base = open(os.path.join(SAMPLES, "deepfm_on_movielens.config"), encoding="utf-8").read()
    path = tmp_path / "c.config"
    path.write_text(base + text, encoding="utf-8")
    load_pipeline_config(str(path), {"train_input_path": os.path.join(
        SAMPLES, "data", "movielens_train.csv"), "eval_input_path": os.path.join(
        SAMPLES, "data", "movielens_test.csv")})


@pytest.mark.parametrize("text, message", [
    ("train_config { train_distribute: PSStrategy }",
     "train_distribute: PSStrategy needs ps tasks in TF_CONFIG"),
    ("train_config { train_distribute: SokStrategy }",
     "train_distribute: SokStrategy is not supported: the SparseOperationKit"),
    ("train_config { dead_line: '2022-05-16' }", "dead_line '2022-05-16' is neither"),
    ("train_config { freeze_gradient: 'a[' }", r"freeze_gradient\[0\]: 'a\[' is not a regular"),
    ("model_config { dummy {} }", "dummy is not supported: DummyModel is EasyRec's input-speed"),
])
def test_refused_train_options(tmp_path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        _load(tmp_path, text)


def test_default_distribution_options_are_accepted(tmp_path) -> None:
    _load(tmp_path, "train_config { train_distribute: NoStrategy dead_line: '20220516 23:59:59' "
          "startup_delay_steps: 0 } data_config { chief_redundant: false }")


def test_train_options_sample_is_valid() -> None:
    config = load_pipeline_config(os.path.join(SAMPLES, "deepfm_train_options.config")).config
    assert config.train_config.optimizer_config[0].WhichOneof("optimizer") == "rms_prop_optimizer"
    assert config.train_config.dead_line and config.data_config.drop_remainder
    assert config.train_config.summary_model_vars and list(config.model_config.restore_filters)
    assert config.export_config.auto_multi_value and config.export_config.export_features
