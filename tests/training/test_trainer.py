"""Trainer behaviour: warm start, exporters, malformed-row policies, evaluation schedule."""
from __future__ import annotations

import json
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from pipeline_helpers import sample_config, train

from easy_rec.export.exporter import list_exports
from easy_rec.training.trainer import MalformedInputError, Trainer, onednn_enabled


@pytest.mark.slow
def test_fine_tune_checkpoint_warm_starts_a_new_model_dir(tmp_path, small_data):
    base_dir = str(tmp_path / "base")
    base, _ = train(sample_config("deepfm", base_dir, *small_data))
    config = sample_config("deepfm", str(tmp_path / "tuned"), *small_data, **{
        "train_config.fine_tune_checkpoint": base_dir, "train_config.num_steps": 1})
    tuned = Trainer(config, base_dir=SAMPLES)
    tuned.restore()
    assert int(tuned.global_step) == 0
    for a, b in zip(base.model.variables, tuned.model.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy(), err_msg=a.name)
    tuned.train()
    assert int(tuned.global_step) == 1


def test_missing_fine_tune_checkpoint_is_an_error(tmp_path, small_data):
    config = sample_config("deepfm", str(tmp_path / "m"), *small_data, **{
        "train_config.fine_tune_checkpoint": str(tmp_path / "nowhere")})
    with pytest.raises(FileNotFoundError, match="nowhere"):
        train(config)


@pytest.mark.slow
def test_latest_exporter_keeps_the_newest_exports(tmp_path, small_data):
    model_dir = str(tmp_path / "m")
    train(sample_config("deepfm", model_dir, *small_data, **{
        "train_config.num_steps": 30, "train_config.save_checkpoints_steps": 10,
        "eval_config.eval_interval_secs": 0, "export_config.exporter_type": "latest",
        "export_config.exports_to_keep": 2}))
    with open(os.path.join(model_dir, "eval_results", "history.jsonl")) as f:
        steps = [json.loads(line)["global_step"] for line in f]
    assert steps == [10, 20, 30, 30]
    assert len(list_exports(os.path.join(model_dir, "export", "latest"))) == 2


@pytest.mark.slow
def test_best_exporter_exports_only_on_improvement(tmp_path, small_data):
    model_dir = str(tmp_path / "m")
    trainer, _ = train(sample_config("deepfm", model_dir, *small_data, **{
        "train_config.num_steps": 30, "train_config.save_checkpoints_steps": 10,
        "eval_config.eval_interval_secs": 0, "export_config.exporter_type": "best",
        "export_config.best_exporter_metric": "auc", "export_config.exports_to_keep": 5}))
    with open(os.path.join(model_dir, "eval_results", "history.jsonl")) as f:
        aucs = [json.loads(line)["auc"] for line in f]
    improvements = sum(1 for i, v in enumerate(aucs) if i == 0 or v > max(aucs[:i]))
    assert len(list_exports(os.path.join(model_dir, "export", "best"))) == improvements


def _with_bad_rows(tmp_path) -> str:
    rows = sample_rows("movielens_train.csv", 400)
    rows[57] = "1\t2\t3\n"  # too few columns
    fields = rows[301].split("\t")
    fields[1] = "x"  # user_id is not an int
    rows[301] = "\t".join(fields)
    path = tmp_path / "bad.csv"
    path.write_text("".join(rows), encoding="utf-8")
    return str(path)


def test_malformed_row_stops_training_with_its_place(tmp_path, small_data):
    bad = _with_bad_rows(tmp_path)
    config = sample_config("deepfm", str(tmp_path / "m"), bad, small_data[1], **{
        "data_config.shuffle": False, "train_config.num_steps": 10})
    with pytest.raises(MalformedInputError, match=rf"{bad}:58: expected 11 columns, found 3"):
        train(config)


def test_ignore_error_skips_counts_and_checkpoints_malformed_rows(tmp_path, small_data, caplog):
    bad = _with_bad_rows(tmp_path)
    model_dir = str(tmp_path / "m")
    config = sample_config("deepfm", model_dir, bad, small_data[1], **{
        "data_config.ignore_error": True, "data_config.num_epochs": 1,
        "train_config.num_steps": 100})
    with caplog.at_level("WARNING"):
        trainer, _ = train(config)
    assert int(trainer.malformed_rows) == 2
    assert "skipped 2 malformed training rows" in caplog.text
    reader = tf.train.load_variable(tf.train.latest_checkpoint(model_dir),
                                    "malformed_rows/.ATTRIBUTES/VARIABLE_VALUE")
    assert int(reader) == 2


@pytest.fixture
def op_determinism():
    """TensorFlow's determinism switch (which a seeded Trainer turns on), off again afterwards."""
    from tensorflow.python.framework import config as tf_config

    yield tf_config
    tf_config.disable_op_determinism()


def test_train_config_seed_gives_the_same_model_twice(tmp_path, small_data, op_determinism,
                                                      caplog):
    def trained(name: str, seed: int) -> list[np.ndarray]:
        config = sample_config("dcn", str(tmp_path / name), *small_data, **{
            "train_config.seed": seed, "train_config.num_steps": 5,
            "export_config.exporter_type": "none", "eval_input_path": ""})
        trainer, _ = train(config)
        assert op_determinism.is_op_determinism_enabled()
        return [v.numpy() for v in sorted(trainer.model.variables, key=lambda v: v.name)]

    first, again, other = trained("a", 7), trained("b", 7), trained("c", 8)
    for a, b in zip(first, again):
        np.testing.assert_array_equal(a, b)  # the same seed: bit for bit (dropout included)
    assert any(not np.array_equal(a, c) for a, c in zip(first, other))
    # oneDNN kernels are outside the determinism switch: the trainer says how to turn them off
    warned = "TF_ENABLE_ONEDNN_OPTS=0" in caplog.text
    assert warned == onednn_enabled()
