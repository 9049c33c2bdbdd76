"""Faults in parameter-server training: a worker killed mid-run and restarted (the job goes
on), and the whole cluster killed with SIGKILL and started again (it resumes from the last
checkpoint)."""
from __future__ import annotations

import json
import os
import re
import time

import pytest
from cluster_helpers import Cluster, make_cluster
from conftest import SAMPLES, sample_rows

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")


def _args(root: str, steps: int) -> list[str]:
    edits = {"model_dir": f"{root}/model", "train_input_path": f"{root}/train.csv",
             "eval_input_path": f"{root}/test.csv", "data_config.batch_size": 64,
             "data_config.num_epochs": 0, "train_config.num_steps": steps,
             "train_config.save_checkpoints_steps": 20, "train_config.log_step_count_steps": 10,
             "eval_config.num_examples": 200}
    return ["--pipeline_config", CONFIG, "--edit_config_json", json.dumps(edits)]


@pytest.fixture
def root(tmp_path):
    (tmp_path / "train.csv").write_text("".join(sample_rows("movielens_train.csv", 3000)))
    (tmp_path / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 200)))
    return str(tmp_path)


def _wait_for_step(cluster: Cluster, step: int, timeout: float) -> None:
    """Until the chief logs a step >= `step` (bounded)."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        steps = [int(s) for s in re.findall(r"trainer: step (\d+):", cluster.log("chief", 0))]
        if steps and max(steps) >= step:
            return
        assert cluster.procs[("chief", 0)].poll() is None, cluster.log("chief", 0)[-3000:]
        time.sleep(0.5)
    raise AssertionError(f"the chief did not reach step {step}:\n"
                         + cluster.log("chief", 0)[-3000:])


def test_worker_killed_and_restarted_job_finishes(root):
    cluster = Cluster(make_cluster(chief=1, worker=2, ps=1), root)
    args = _args(root, 200)
    cluster.start_all(args)
    try:
        _wait_for_step(cluster, 20, 300)
        cluster.kill("worker", 1)
        time.sleep(2)
        cluster.start("worker", 1, args)
        assert cluster.wait("chief", 0, 300) == 0, cluster.log("chief", 0)[-4000:]
    finally:
        cluster.stop()
    summary = json.loads(cluster.log("chief", 0).strip().splitlines()[-1])
    assert summary["global_step"] >= 200


def test_cluster_killed_resumes_from_last_checkpoint(root):
    import tensorflow as tf

    first = Cluster(make_cluster(chief=1, worker=1, ps=1), root)
    first.start_all(_args(root, 400))
    try:
        _wait_for_step(first, 50, 300)
        for task in list(first.procs):
            first.kill(*task)
    finally:
        first.stop()
    saved = int(tf.train.latest_checkpoint(f"{root}/model").rsplit("-", 1)[1])
    assert 20 <= saved < 400
    second = Cluster(make_cluster(chief=1, worker=1, ps=1), root)
    second.start_all(_args(root, saved + 20))
    try:
        assert second.wait("chief", 0, 300) == 0, second.log("chief", 0)[-4000:]
    finally:
        second.stop()
    log = second.log("chief", 0)
    assert f"resumed from {root}/model/ckpt-{saved} at global step {saved}" in log
    assert json.loads(log.strip().splitlines()[-1])["global_step"] == saved + 20
