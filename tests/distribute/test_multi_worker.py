"""MultiWorkerMirroredStrategy on loopback: a chief and a worker train DeepFM in step; the
chief's checkpoint restores into a single-process model and its export scores like it."""
from __future__ import annotations

import glob
import json
import os

import pytest
from cluster_helpers import Cluster, make_cluster
from conftest import SAMPLES, sample_rows

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
STEPS = 40


@pytest.fixture(scope="module")
def mwms_job(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("mwms"))
    with open(f"{root}/train.csv", "w") as f:
        f.write("".join(sample_rows("movielens_train.csv", 2000)))
    with open(f"{root}/test.csv", "w") as f:
        f.write("".join(sample_rows("movielens_test.csv", 300)))
    edits = {"model_dir": f"{root}/model", "train_input_path": f"{root}/train.csv",
             "eval_input_path": f"{root}/test.csv", "data_config.batch_size": 64,
             "data_config.num_epochs": 0, "train_config.num_steps": STEPS,
             "train_config.log_step_count_steps": 20,
             # no checkpoint inside the loop: the final one is saved, evaluated and exported
             # once, after it
             "train_config.save_checkpoints_steps": 10 * STEPS,
             "train_config.train_distribute": "MultiWorkerMirroredStrategy",
             "train_config.seed": 3}
    cluster = Cluster(make_cluster(chief=1, worker=1), root)
    cluster.start_all(["--pipeline_config", CONFIG, "--edit_config_json", json.dumps(edits)])
    try:
        assert cluster.wait("chief", 0, 420) == 0, cluster.log("chief", 0)[-4000:]
        assert cluster.wait("worker", 0, 60) == 0, cluster.log("worker", 0)[-4000:]
    finally:
        cluster.stop()
    return cluster, root, edits


def test_tasks_step_together_and_chief_exports(mwms_job):
    cluster, root, _ = mwms_job
    chief = cluster.summary("chief", 0)
    worker = cluster.summary("worker", 0)
    assert chief["global_step"] == worker["global_step"] == STEPS
    assert 0.5 < chief["auc"] <= 1.0 and "auc" not in worker  # only the chief evaluates
    assert len(glob.glob(f"{root}/model/export/final/*/saved_model.pb")) == 1
    assert not glob.glob(f"{root}/model/.scratch-*")


def test_mwms_checkpoint_read_by_single_process(mwms_job):
    import numpy as np
    import tensorflow as tf

    from easy_rec.input.reader import build_reader
    from easy_rec.models.builder import model_column_plan
    from easy_rec.pipeline import load_pipeline_config
    from easy_rec.training.restore import load_trained_model

    _, root, edits = mwms_job
    config = load_pipeline_config(CONFIG, {**edits, "train_config.train_distribute":
                                           "NoStrategy"}).config
    model, step, _ = load_trained_model(config, base_dir=SAMPLES)
    assert step == STEPS
    reader = build_reader(config.data_config, f"{root}/test.csv", model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(32)))
    export = glob.glob(f"{root}/model/export/final/*/saved_model.pb")[0]
    served = tf.saved_model.load(os.path.dirname(export)).signatures["serving_default"]
    got = served(**{k: batch[k] for k in served.structured_input_signature[1]})["probs"]
    np.testing.assert_allclose(got.numpy(), model(batch, training=False)["probs"].numpy(),
                               rtol=1e-5, atol=1e-6)
