"""export_config.enable_early_stop (EasyRec's stop on a metric that stops improving) and the
refusal of early_stop_func."""
from __future__ import annotations

import pytest
from conftest import SAMPLES, sample_rows
from pipeline_helpers import sample_config

from easy_rec.config.errors import ConfigError
from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.protos import export_pb2
from easy_rec.training.early_stop import EarlyStop
from easy_rec.training.trainer import Trainer


def early_stop(**fields) -> EarlyStop:
    return EarlyStop(export_pb2.ExportConfig(enable_early_stop=True, **fields))


def test_stops_when_the_metric_has_not_increased_for_max_check_steps():
    stop = early_stop(best_exporter_metric="auc", max_check_steps=300)
    for step, auc in ((100, 0.70), (200, 0.72), (300, 0.72), (400, 0.71)):
        stop.observe(step, {"auc": auc, "loss": 0.5})
        assert stop.reason() is None  # best at 200: 200 steps without increase at most
    stop.observe(500, {"auc": 0.719})
    assert "auc has not increased for 300 steps" in stop.reason()
    assert "best 0.72 at step 200" in stop.reason()


def test_smaller_is_better_and_missing_metrics_are_ignored():
    stop = early_stop(best_exporter_metric="loss", metric_bigger=False, max_check_steps=100)
    stop.observe(10, {"loss": 0.5})
    stop.observe(60, {"auc": 0.9})   # no loss: ignored
    assert stop.reason() is None
    stop.observe(110, {"loss": 0.4})  # decreased: the best moves
    stop.observe(200, {"loss": 0.45})
    assert stop.reason() is None
    stop.observe(210, {"loss": 0.41})
    assert "loss has not decreased for 100 steps" in stop.reason()
    off = EarlyStop(export_pb2.ExportConfig(max_check_steps=0))
    off.observe(10, {"auc": 0.5})
    assert off.reason() is None  # enable_early_stop is off


def test_trainer_stops_at_the_first_evaluation_without_improvement(tmp_path):
    train_path, test_path = tmp_path / "train.csv", tmp_path / "test.csv"
    train_path.write_text("".join(sample_rows("movielens_train.csv", 640)), encoding="utf-8")
    test_path.write_text("".join(sample_rows("movielens_test.csv", 64)), encoding="utf-8")
    config = sample_config("dnn", str(tmp_path / "m"), str(train_path), str(test_path), **{
        "train_config.num_steps": 8, "data_config.batch_size": 32,
        "train_config.save_checkpoints_steps": 2, "export_config.exporter_type": "none",
        "export_config.enable_early_stop": True, "export_config.max_check_steps": 0})
    trainer = Trainer(config, base_dir=SAMPLES)
    trainer.train()
    # max_check_steps 0: the first evaluation (step 2) is already "no improvement since"
    assert int(trainer.global_step) == 2


def test_trainer_early_stops_on_the_metric_the_best_exporter_falls_back_to(tmp_path):
    train_path = tmp_path / "train.csv"
    train_path.write_text("".join(sample_rows("movielens_train.csv", 64)), encoding="utf-8")
    config = sample_config("dnn", str(tmp_path / "m"), str(train_path), str(train_path), **{
        "export_config.enable_early_stop": True,
        "export_config.best_exporter_metric": "mean_absolute_error"})  # not configured here
    trainer = Trainer(config, base_dir=SAMPLES)
    assert trainer.early_stop.metric == "auc"  # the first configured eval metric, as best_metric()


def test_early_stop_func_is_refused():
    text = ('model_dir: "m" export_config { enable_early_stop: true '
            'early_stop_func: "my.module.stop" }')
    with pytest.raises(ConfigError, match="early_stop_func is not supported: it names Python"):
        parse_pipeline_config_text(text, "p.config")
