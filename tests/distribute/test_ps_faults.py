"""Faults in parameter-server training with CSV input: a worker killed mid-run and restarted
(each worker's iterator on the worker), and the job goes on; the whole cluster killed and
restarted with the chief reading the files (`data_config.chief_reads_input`), and every row
is trained exactly once relative to the restored model. Kafka through the same kills:
tests/distribute/test_ps_python_inputs.py; a PS job resuming CSV input from a checkpoint in
model_dir: test_ps_training.py (started from a single-process checkpoint)."""
from __future__ import annotations

import os
import re
import time

import pytest
from cluster_helpers import Cluster, make_cluster, small_model_args, wait_for_checkpoint
from conftest import SAMPLES, sample_rows

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")


def _args(root: str, steps: int, **edits) -> list[str]:
    """Train arguments of the small model (cluster_helpers), a checkpoint every 10 steps."""
    edits = {"model_dir": f"{root}/model", "train_input_path": f"{root}/train.csv",
             "eval_input_path": f"{root}/test.csv", "data_config.batch_size": 64,
             "data_config.num_epochs": 0, "train_config.num_steps": steps,
             "train_config.save_checkpoints_steps": 10, "train_config.log_step_count_steps": 10,
             "eval_config.num_examples": 200, "eval_config.eval_interval_secs": 3600, **edits}
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


ROWS, BATCH = 1600, 8   # 200 steps: the kill comes long before the end
BAD_EVERY = 3           # rows 2, 5, 8, ... are malformed lines


def _malformed_in(rows: int) -> int:
    """Malformed lines among the first `rows` rows."""
    return rows // BAD_EVERY


def _trained(checkpoint: str) -> tuple[int, int]:
    """(global_step, malformed_rows) saved in `checkpoint`."""
    import tensorflow as tf

    def value(name):
        return int(tf.train.load_variable(checkpoint, f"{name}/.ATTRIBUTES/VARIABLE_VALUE"))
    return value("global_step"), value("malformed_rows")


def test_chief_read_files_resume_exactly_after_a_cluster_kill(tmp_path):
    """The chief reads the CSV file (chief_reads_input) in order, one pass; the whole cluster
    gets SIGKILL after a checkpoint and a new cluster resumes from it and reads to the end.
    Every third line is malformed and counted (ignore_error) by `malformed_rows`, updated on
    the ps in the step that trains the line: so the count in a checkpoint of step S must be
    the malformed lines of the first S batches (each trained once, none skipped), and the
    resumed job must end after exactly the remaining batches with every malformed line of
    the file counted once. (Were the input read from its start again, as the workers' shares
    are, the resumed job would train S batches more and count their malformed lines twice.)"""
    import tensorflow as tf

    root = str(tmp_path)
    rows = sample_rows("movielens_train.csv", ROWS)
    with open(f"{root}/train.csv", "w", encoding="utf-8") as f:
        f.writelines("malformed\n" if i % BAD_EVERY == BAD_EVERY - 1 else row
                     for i, row in enumerate(rows))
    (tmp_path / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 200)))
    args = _args(root, 0, **{
        "data_config.batch_size": BATCH, "data_config.num_epochs": 1,
        "data_config.shuffle": False, "data_config.ignore_error": True,
        "data_config.chief_reads_input": True, "train_config.keep_checkpoint_max": 0,
        "export_config.exporter_type": "none"})
    model_dir = f"{root}/model"
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = Cluster(make_cluster(chief=1, worker=1, ps=1), f"{root}/first")
    first.start_all(args)
    try:
        wait_for_checkpoint(model_dir, first, 300)
        for task in list(first.procs):
            first.kill(*task)     # kill -9 of the whole cluster, mid-run
    finally:
        first.stop()
    restored = tf.train.latest_checkpoint(model_dir)
    step, malformed = _trained(restored)
    assert 0 < step < ROWS // BATCH, "everything was trained before the kill"
    assert malformed == _malformed_in(step * BATCH), (step, malformed)

    second = Cluster(make_cluster(chief=1, worker=1, ps=1), f"{root}/second")
    second.start_all(args)
    try:
        assert second.wait("chief", 0, 300) == 0, second.log("chief", 0)[-4000:]
    finally:
        second.stop()
    assert f"resumed from {restored} at global step {step}" in second.log("chief", 0)
    final_step, final_malformed = _trained(tf.train.latest_checkpoint(model_dir))
    assert final_step == ROWS // BATCH, "the resumed job trained other batches than the rest"
    assert final_malformed == _malformed_in(ROWS), "a row was trained twice or skipped"
    assert second.summary("chief", 0)["global_step"] == final_step
