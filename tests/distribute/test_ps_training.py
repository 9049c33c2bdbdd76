"""Parameter-server training on loopback: 1 chief + 2 workers + 2 ps train DeepFM on a
MovieLens slice, against the same config trained in one process with the same seed."""
from __future__ import annotations

import glob
import json
import os
import re

import pytest
from cluster_helpers import Cluster, make_cluster
from conftest import SAMPLES, sample_rows

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
STEPS = 120


def _edits(root: str, model_dir: str) -> dict:
    return {"model_dir": model_dir, "train_input_path": f"{root}/train.csv",
            "eval_input_path": f"{root}/test.csv", "data_config.batch_size": 128,
            "data_config.num_epochs": 0, "train_config.num_steps": STEPS,
            "train_config.save_checkpoints_steps": 60, "train_config.log_step_count_steps": 20,
            "train_config.seed": 7}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ps")
    (root / "train.csv").write_text("".join(sample_rows("movielens_train.csv", 8000)))
    (root / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 1500)))
    return str(root)


@pytest.fixture(scope="module")
def ps_job(data):
    """The finished cluster job: (Cluster, model_dir, the chief's JSON summary)."""
    model_dir = os.path.join(data, "ps_model")
    cluster = Cluster(make_cluster(chief=1, worker=2, ps=2), data)
    cluster.start_all(["--pipeline_config", CONFIG, "--edit_config_json",
                       json.dumps(_edits(data, model_dir))])
    try:
        assert cluster.wait("chief", 0, 420) == 0, cluster.log("chief", 0)[-4000:]
        for task in [("worker", 0), ("worker", 1), ("ps", 0), ("ps", 1)]:
            assert cluster.wait(*task, 60) == 0, cluster.log(*task)[-2000:]
    finally:
        cluster.stop()
    summary = json.loads(cluster.log("chief", 0).strip().splitlines()[-1])
    return cluster, model_dir, summary


@pytest.fixture(scope="module")
def single_job(data):
    """The same config trained in this process: its final eval results."""
    from easy_rec.pipeline import load_pipeline_config
    from easy_rec.training.trainer import Trainer

    config = load_pipeline_config(CONFIG, _edits(data, os.path.join(data, "single"))).config
    return Trainer(config, base_dir=SAMPLES).train()


def test_ps_job_reaches_single_process_auc(ps_job, single_job):
    _, _, summary = ps_job
    assert summary["global_step"] == STEPS
    assert abs(summary["auc"] - single_job["auc"]) <= 0.02, (summary["auc"], single_job["auc"])


def test_tables_are_sharded_over_both_ps_tasks(ps_job):
    cluster, _, _ = ps_job
    log = cluster.log("chief", 0)
    line = re.search(r"table user_id\S* \[12000, 16\]: 2 shard\(s\) on (.*)", log)
    assert line, log[-3000:]
    assert "/job:ps/replica:0/task:0" in line.group(1) and "/job:ps/replica:0/task:1" in line.group(1)
    assert "each worker" not in log  # a fresh job, not a resumed one
    for worker in (0, 1):  # workers ran steps: their servers saw the job
        assert cluster.procs[("worker", worker)].returncode == 0


def test_distributed_checkpoint_holds_whole_tables(ps_job):
    import tensorflow as tf

    _, model_dir, _ = ps_job
    shapes = dict(tf.train.list_variables(tf.train.latest_checkpoint(model_dir)))
    tables = {k: v for k, v in shapes.items() if "user_id" in k and k.endswith("VARIABLE_VALUE")
              and "optimizer" not in k}
    assert [12000, 16] in tables.values(), tables
    assert not any("part_" in k for k in shapes)


def test_distributed_checkpoint_export_served_by_plain_tf(ps_job, data):
    """The chief's export (from the distributed checkpoint) loads in plain TensorFlow and
    scores like the model a single process restores from that checkpoint."""
    import numpy as np
    import tensorflow as tf

    from easy_rec.input.reader import build_reader
    from easy_rec.models.builder import model_column_plan
    from easy_rec.pipeline import load_pipeline_config
    from easy_rec.training.restore import load_trained_model

    _, model_dir, summary = ps_job
    exports = glob.glob(os.path.join(model_dir, "export", "final", "*", "saved_model.pb"))
    assert len(exports) == 1
    config = load_pipeline_config(CONFIG, _edits(data, model_dir)).config
    model, step, _ = load_trained_model(config, base_dir=SAMPLES)
    assert step == summary["global_step"]
    reader = build_reader(config.data_config, f"{data}/test.csv", model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(64)))
    expected = model(batch, training=False)["probs"].numpy()
    served = tf.saved_model.load(os.path.dirname(exports[0])).signatures["serving_default"]
    inputs = {k: batch[k] for k in served.structured_input_signature[1]}
    got = served(**inputs)["probs"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
