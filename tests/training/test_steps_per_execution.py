"""train_config.steps_per_execution: several train steps per call of the compiled step train
the same model, with checkpoints and log lines at the same steps, as one step per call."""
from __future__ import annotations

import os

import numpy as np
import pytest
from conftest import sample_rows
from pipeline_helpers import sample_config, train

from easy_rec.training.cadence import Cadence


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """steps_per_execution -> (trainer, checkpoint steps) of one seeded job: 300 rows, batch
    32, 2 epochs (the input ends before num_steps), a checkpoint every 7 steps and a log line
    every 5; no evaluation or export (the graph of the several-step call is written)."""
    tmp = tmp_path_factory.mktemp("steps_per_execution")
    train_path = tmp / "train.csv"
    train_path.write_text("".join(sample_rows("movielens_train.csv", 300)), encoding="utf-8")
    results = {}
    for per_call in (1, 6):
        config = sample_config("deepfm", str(tmp / f"k{per_call}"), str(train_path), "",
                               **{
                                   "data_config.batch_size": 32, "data_config.num_epochs": 2,
                                   "train_config.num_steps": 100,
                                   "train_config.save_checkpoints_steps": 7,
                                   "train_config.log_step_count_steps": 5,
                                   "train_config.keep_checkpoint_max": 0,
                                   "train_config.seed": 3,
                                   "train_config.steps_per_execution": per_call,
                                   "train_config.write_graph": per_call > 1,
                                   "export_config.exporter_type": "none"})
        trainer, _ = train(config)
        saved = sorted(int(os.path.basename(p).split("-")[-1])
                       for p in trainer.manager.checkpoints)
        results[per_call] = (trainer, saved)
    return results


def test_several_steps_per_call_train_the_same_model(runs):
    one, _ = runs[1]
    several, _ = runs[6]
    assert one._train_steps is None and several._train_steps is not None
    # 2 epochs of 300 rows in batches of 32: the input ends after 19 steps
    assert int(one.global_step) == int(several.global_step) == 19
    assert one.train_stats["examples"] == several.train_stats["examples"] == 600
    pairs = list(zip(one.model.variables, several.model.variables))
    assert pairs
    for a, b in pairs:
        assert a.name == b.name
        np.testing.assert_allclose(a.numpy(), b.numpy(), rtol=1e-6, atol=1e-7, err_msg=a.name)


def test_checkpoints_land_on_the_same_steps(runs):
    assert runs[1][1] == runs[6][1] == [7, 14, 19]


def test_calls_stop_at_the_next_event(runs):
    several, _ = runs[6]
    saves, exports = Cadence(steps=7), Cadence(steps=0)
    # log line at step 5, checkpoint at 7, num_steps 100; at most 6 per call
    assert several._steps_to_next_event(0, 100, 5, (saves, exports)) == 5
    assert several._steps_to_next_event(5, 100, 5, (saves, exports)) == 2
    saves.mark(7)
    assert several._steps_to_next_event(7, 100, 20, (saves, exports)) == 6
    assert several._steps_to_next_event(98, 100, 50, (Cadence(), exports)) == 2


def test_cadence_steps_left():
    cadence = Cadence(steps=10)
    assert cadence.steps_left(3) == 7
    cadence.mark(10)
    assert cadence.steps_left(12) == 8
    assert Cadence(secs=5.0).steps_left(3) is None
