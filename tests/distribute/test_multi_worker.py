"""MultiWorkerMirroredStrategy on loopback: a chief and a worker train DeepFM in step, are
killed with SIGKILL after a checkpoint and restarted, and each continues its share of the
input where the checkpoint left it; the chief's checkpoint restores into a single-process
model and its export scores like it."""
from __future__ import annotations

import glob
import os

import pytest
import tensorflow as tf
from cluster_helpers import (
    Cluster,
    checkpoint_step,
    make_cluster,
    small_model_args,
    wait_for_checkpoint,
)
from conftest import SAMPLES, sample_rows

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
BATCH = 64
EPOCH_STEPS = 10  # batches in one epoch of each task's share
BAD_EVERY = 9  # every 9th line of the training file is malformed


def training_file(path: str) -> int:
    """2 shares x EPOCH_STEPS batches of lines, some malformed; returns the malformed count."""
    lines = sample_rows("movielens_train.csv", 2 * EPOCH_STEPS * BATCH)
    bad = 0
    for i in range(len(lines)):
        if i % BAD_EVERY == 4:
            lines[i], bad = "malformed,line\n", bad + 1
    with open(path, "w") as f:
        f.write("".join(lines))
    return bad


@pytest.fixture(scope="module")
def mwms_job(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mwms"))
    bad = training_file(f"{root}/train.csv")
    with open(f"{root}/test.csv", "w") as f:
        f.write("".join(sample_rows("movielens_test.csv", 300)))
    edits = {"model_dir": f"{root}/model", "train_input_path": f"{root}/train.csv",
             "eval_input_path": f"{root}/test.csv", "data_config.batch_size": BATCH,
             "data_config.num_epochs": 0, "data_config.shuffle": False,
             "data_config.ignore_error": True,
             "train_config.num_steps": 100000, "train_config.save_checkpoints_steps": 4,
             "train_config.log_step_count_steps": 20,
             "train_config.train_distribute": "MultiWorkerMirroredStrategy",
             "train_config.seed": 3}
    # run 1: killed (SIGKILL, both tasks) once a checkpoint exists
    first = Cluster(make_cluster(chief=1, worker=1), root)
    first.start_all(small_model_args(CONFIG, edits, f"{root}/first.config"))
    try:
        wait_for_checkpoint(edits["model_dir"], first, 420)
    finally:
        first.kill("chief", 0)
        first.kill("worker", 0)
        first.stop()
    restored = checkpoint_step(tf.train.latest_checkpoint(edits["model_dir"]))
    # run 2: resumes, and stops after whole epochs of each share; the final checkpoint only
    steps = (restored // EPOCH_STEPS + 1) * EPOCH_STEPS
    edits.update({"train_config.num_steps": steps,
                  "train_config.save_checkpoints_steps": 10 * steps})
    cluster = Cluster(make_cluster(chief=1, worker=1), root)
    args = small_model_args(CONFIG, edits, f"{root}/second.config")
    cluster.start_all(args)
    try:
        assert cluster.wait("chief", 0, 420) == 0, cluster.log("chief", 0)[-4000:]
        assert cluster.wait("worker", 0, 60) == 0, cluster.log("worker", 0)[-4000:]
    finally:
        cluster.stop()
    return cluster, root, args[1], {"restored": restored, "steps": steps, "bad": bad}


def test_restarted_tasks_continue_their_shares(mwms_job):
    cluster, root, _, run = mwms_job
    assert run["restored"] > 0
    final = tf.train.latest_checkpoint(f"{root}/model")
    assert checkpoint_step(final) == run["steps"]
    read = tf.train.load_checkpoint(final).get_tensor
    assert read("train_input_batches/.ATTRIBUTES/VARIABLE_VALUE") == run["steps"]
    # the steps cover whole epochs of both shares: every malformed line was read exactly
    # steps / EPOCH_STEPS times over both tasks, before and after the restart together (a
    # share read again from its start, or one not resumed where it stopped, counts otherwise)
    assert read("malformed_rows/.ATTRIBUTES/VARIABLE_VALUE") == \
        run["bad"] * run["steps"] // EPOCH_STEPS
    for task in ("chief", "worker"):
        assert f"resumes after {run['restored']} trained batches" in cluster.log(task, 0)


def test_tasks_step_together_and_chief_exports(mwms_job):
    cluster, root, _, run = mwms_job
    chief = cluster.summary("chief", 0)
    worker = cluster.summary("worker", 0)
    assert chief["global_step"] == worker["global_step"] == run["steps"]
    assert 0.5 < chief["auc"] <= 1.0 and "auc" not in worker  # only the chief evaluates
    assert len(glob.glob(f"{root}/model/export/final/*/saved_model.pb")) == 1
    assert not glob.glob(f"{root}/model/.scratch-*")


def test_mwms_checkpoint_read_by_single_process(mwms_job):
    import numpy as np

    from easy_rec.input.reader import build_reader
    from easy_rec.models.builder import model_column_plan
    from easy_rec.pipeline import load_pipeline_config
    from easy_rec.training.restore import load_trained_model

    _, root, config_path, run = mwms_job
    config = load_pipeline_config(config_path, {"train_config.train_distribute":
                                                "NoStrategy"}).config
    model, step, _ = load_trained_model(config, base_dir=SAMPLES)
    assert step == run["steps"]
    reader = build_reader(config.data_config, f"{root}/test.csv", model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(32)))
    export = glob.glob(f"{root}/model/export/final/*/saved_model.pb")[0]
    served = tf.saved_model.load(os.path.dirname(export)).signatures["serving_default"]
    got = served(**{k: batch[k] for k in served.structured_input_signature[1]})["probs"]
    np.testing.assert_allclose(got.numpy(), model(batch, training=False)["probs"].numpy(),
                               rtol=1e-5, atol=1e-6)
