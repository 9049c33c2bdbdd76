"""Restarts resume exactly: same global step, same next batch, nothing skipped or repeated."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES, sample_rows
from pipeline_helpers import sample_config, train

from easy_rec.training.trainer import InputStateError


@pytest.fixture
def tiny_data(tmp_path):
    """300 training rows, each made unique by its (user_id, movie_id) pair."""
    path = tmp_path / "train.csv"
    path.write_text("".join(sample_rows("movielens_train.csv", 300)), encoding="utf-8")
    test = tmp_path / "test.csv"
    test.write_text("".join(sample_rows("movielens_test.csv", 100)), encoding="utf-8")
    return str(path), str(test)


def _recorder(seen: list):
    def observe(batch):
        seen.append(list(zip(batch["user_id"].numpy().tolist(), batch["movie_id"].numpy().tolist())))
    return observe


def _config(model_dir, data, steps, **edits):
    """Training only: these tests compare batches and weights, never evaluation results."""
    return sample_config("deepfm", model_dir, *data, **{
        "eval_input_path": "", "data_config.batch_size": 32, "data_config.num_epochs": 3,
        "data_config.shuffle_buffer_size": 64, "train_config.num_steps": steps,
        "train_config.save_checkpoints_steps": 7, **edits})


@pytest.mark.slow
def test_restart_continues_with_the_next_batch_and_the_same_weights(tmp_path, tiny_data):
    straight_batches: list = []
    tf.random.set_seed(7)
    straight, _ = train(_config(str(tmp_path / "straight"), tiny_data, 100),
                        batch_observer=_recorder(straight_batches))

    first: list = []
    resumed_dir = str(tmp_path / "resumed")
    tf.random.set_seed(7)
    trainer, _ = train(_config(resumed_dir, tiny_data, 12), batch_observer=_recorder(first))
    assert int(trainer.global_step) == 12
    second: list = []
    resumed, _ = train(_config(resumed_dir, tiny_data, 100), batch_observer=_recorder(second))
    # 3 epochs of 300 rows in batches of 32: the input ends after 29 steps
    assert int(resumed.global_step) == 29
    assert len(first) == 12 and len(second) == 17
    assert first + second == straight_batches

    rows = [r for batch in straight_batches for r in batch]
    counts = Counter(rows)
    assert len(counts) == 300 and set(counts.values()) == {3}

    pairs = list(zip(straight.model.variables, resumed.model.variables))
    assert pairs
    for a, b in pairs:
        assert a.name == b.name
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-4, atol=1e-6, err_msg=a.name)


KILL_SCRIPT = r"""
import sys
from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.trainer import Trainer
edits = {"model_dir": sys.argv[2], "train_input_path": sys.argv[3], "eval_input_path": "",
         "data_config.batch_size": 32, "data_config.num_epochs": 0,
         "train_config.num_steps": 100000, "train_config.save_checkpoints_steps": 1,
         "train_config.keep_checkpoint_max": 2, "train_config.log_step_count_steps": 1000}
config = load_pipeline_config(sys.argv[1], edits).config
Trainer(config).train()
"""


@pytest.mark.slow
def test_kill_at_any_moment_leaves_a_restorable_model_dir(tmp_path, tiny_data):
    model_dir = str(tmp_path / "killed")
    env = dict(os.environ, PYTHONPATH=REPO)
    proc = subprocess.Popen(
        [sys.executable, "-c", KILL_SCRIPT, os.path.join(SAMPLES, "deepfm_on_movielens.config"),
         model_dir, tiny_data[0]], env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    # kill mid-flight as soon as it saves continuously: two saves (and rotations) after the
    # first checkpoint, while it trains, saves and deletes the next ones
    first_step, deadline = None, time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        latest = tf.train.latest_checkpoint(model_dir)
        step = None if latest is None else int(latest.rsplit("-", 1)[1])
        first_step = step if first_step is None else first_step
        if step is not None and step >= first_step + 2:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    latest = tf.train.latest_checkpoint(model_dir)
    assert latest is not None, proc.stderr.read().decode()[-2000:]
    step_before = int(latest.rsplit("-", 1)[1])

    trainer, _ = train(_config(model_dir, tiny_data, step_before + 3,
                               **{"data_config.num_epochs": 0}))
    assert int(trainer.global_step) == step_before + 3
    assert np.isfinite(trainer.model.trainable_variables[0].numpy()).all()


def test_changed_input_pipeline_is_reported_clearly(tmp_path, tiny_data):
    model_dir = str(tmp_path / "m")
    train(_config(model_dir, tiny_data, 5))
    with pytest.raises(InputStateError, match="data_config"):
        train(_config(model_dir, tiny_data, 10, **{"data_config.num_epochs": 0}))
