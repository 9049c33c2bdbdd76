"""Faults in parameter-server training: a worker killed mid-run and restarted (the job goes
on), then the whole cluster killed with SIGKILL and started again (it resumes from the last
checkpoint)."""
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


def test_worker_killed_then_cluster_killed_job_resumes(root):
    """One job, two faults: worker 1 is killed mid-run and restarted (the chief goes on
    training and checkpointing); then every task gets SIGKILL, and a new cluster resumes from
    the last checkpoint and finishes."""
    first = Cluster(make_cluster(chief=1, worker=2, ps=1), root)
    args = _args(root, 1000)   # more steps than it gets to run before the kill
    first.start_all(args)
    try:
        _wait_for_step(first, 10, 300)
        killed_at = max(int(s) for s in re.findall(r"trainer: global step (\d+):", first.log("chief", 0)))
        first.kill("worker", 1)
        time.sleep(2)
        first.start("worker", 1, args)
        _wait_for_step(first, killed_at + 20, 300)   # two checkpoints after the kill
        for task in list(first.procs):
            first.kill(*task)
    finally:
        first.stop()
    saved = _last_checkpoint_step(f"{root}/model")
    assert killed_at + 10 <= saved < 1000
    second = Cluster(make_cluster(chief=1, worker=1, ps=1), root)
    second.start_all(_args(root, saved + 10))
    try:
        assert second.wait("chief", 0, 300) == 0, second.log("chief", 0)[-4000:]
    finally:
        second.stop()
    log = second.log("chief", 0)
    assert f"resumed from {root}/model/ckpt-{saved} at global step {saved}" in log
    assert second.summary("chief", 0)["global_step"] == saved + 10
