"""Faults in parameter-server training with CSV input (each worker's iterator on the worker): a
worker killed mid-run and restarted, and the job goes on. The whole cluster killed and
resumed: tests/distribute/test_ps_python_inputs.py (Kafka); a PS job resuming CSV input from a
checkpoint in model_dir: test_ps_training.py (started from a single-process checkpoint)."""
from __future__ import annotations

import os
import re
import time

import pytest
from cluster_helpers import Cluster, make_cluster, small_model_args
from conftest import SAMPLES, sample_rows

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")


def _args(root: str, steps: int) -> list[str]:
    """Train arguments of the small model (cluster_helpers), a checkpoint every 10 steps."""
    edits = {"model_dir": f"{root}/model", "train_input_path": f"{root}/train.csv",
             "eval_input_path": f"{root}/test.csv", "data_config.batch_size": 64,
             "data_config.num_epochs": 0, "train_config.num_steps": steps,
             "train_config.save_checkpoints_steps": 10, "train_config.log_step_count_steps": 10,
             "eval_config.num_examples": 200, "eval_config.eval_interval_secs": 3600}
    return small_model_args(CONFIG, edits, f"{root}/steps_{steps}.config")


@pytest.fixture
def root(tmp_path):
    (tmp_path / "train.csv").write_text("".join(sample_rows("movielens_train.csv", 2000)))
    (tmp_path / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 200)))
    return str(tmp_path)


def _wait_for_step(cluster: Cluster, step: int, timeout: float) -> None:
    """Until the chief logs a step >= `step` (bounded)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = [int(s) for s in re.findall(r"trainer: global step (\d+):", cluster.log("chief", 0))]
        if steps and max(steps) >= step:
            return
        assert cluster.procs[("chief", 0)].poll() is None, cluster.log("chief", 0)[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"the chief did not reach step {step}:\n"
                         + cluster.log("chief", 0)[-3000:])


def _last_checkpoint_step(model_dir: str) -> int:
    """The step of model_dir's latest checkpoint (from its `checkpoint` file, no TensorFlow)."""
    with open(os.path.join(model_dir, "checkpoint"), encoding="utf-8") as f:
        return int(re.search(r'^model_checkpoint_path: ".*ckpt-(\d+)"', f.read(), re.M).group(1))


def _chief_step(cluster: Cluster) -> int:
    return max(int(s) for s in re.findall(r"trainer: global step (\d+):", cluster.log("chief", 0)))


def test_a_killed_worker_is_restarted_and_the_job_goes_on(root):
    """Worker 1 is killed mid-run and started again: the chief goes on training and writes
    two more checkpoints (the coordinator re-sends the lost steps and re-creates the
    worker's input iterator when it is back)."""
    cluster = Cluster(make_cluster(chief=1, worker=2, ps=1), root)
    args = _args(root, 100000)   # more steps than it gets to run
    cluster.start_all(args)
    try:
        _wait_for_step(cluster, 10, 300)
        killed_at = _chief_step(cluster)
        cluster.kill("worker", 1)
        time.sleep(2)
        cluster.start("worker", 1, args)
        _wait_for_step(cluster, killed_at + 20, 300)
        assert _last_checkpoint_step(f"{root}/model") >= killed_at + 10
        assert cluster.procs[("worker", 1)].poll() is None, cluster.log("worker", 1)[-3000:]
    finally:
        for task in list(cluster.procs):
            cluster.kill(*task)
        cluster.stop()
