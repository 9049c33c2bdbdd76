"""One parameter-server job through the launcher (1 chief + 1 worker + 2 ps + an evaluator)
that reads Parquet (the chief reads, the batches travel with the steps) and pushes touched
embedding rows to a real Redis every few steps.

Pushes: the touched marks live on the ps tasks, written by the worker's steps; after the job,
the rows in Redis equal the chief's last checkpoint for every id, and the delta pushes carry
only ids the training data has. Evaluator: it evaluates the checkpoints (the final one
included) and writes the eval results; the chief evaluates none; every process ends."""
from __future__ import annotations

import json
import os
import runpy

import numpy as np
import pytest
from cluster_helpers import run_launch, small_model_args
from conftest import REPO, SAMPLES, sample_rows

from easy_rec.export.split import stored_tables
from easy_rec.store.embedding_store import EmbeddingStore
from easy_rec.store.redis_client import connect

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
STEPS, PUSH_EVERY, SAVE_EVERY = 12, 4, 6
TRAIN_ROWS = 400
MODEL_NAME = f"ps_push_job_{os.getpid()}"  # its own keys in the session's Redis


def _edits(root: str, redis_url: str) -> dict:
    return {"model_dir": f"{root}/model", "train_input_path": f"{root}/train.parquet",
            "data_config.input_type": "ParquetInput",
            "eval_input_path": f"{root}/test.parquet", "data_config.batch_size": 32,
            "data_config.num_epochs": 0, "train_config.num_steps": STEPS,
            "train_config.save_checkpoints_steps": SAVE_EVERY,
            "train_config.log_step_count_steps": PUSH_EVERY,
            "export_config.exporter_type": "none",
            "export_config.embedding_store.redis_url": redis_url,
            "export_config.embedding_store.model_name": MODEL_NAME,
            "export_config.embedding_store.min_rows_to_store": 1000,
            "export_config.embedding_store.push_every_n_steps": PUSH_EVERY}


def _summary(stdout: str, task: str) -> dict:
    """The JSON summary `task` printed last (its lines carry the launcher's prefix)."""
    prefix = f"[{task}] "
    lines = [line[len(prefix):] for line in stdout.splitlines()
             if line.startswith(prefix + "{")]
    assert lines, stdout[-3000:]
    return json.loads(lines[-1])


@pytest.fixture(scope="module")
def job(redis_server, tmp_path_factory):
    """The finished launcher run of the small model (cluster_helpers): (root, its config's
    path, stdout, stderr)."""
    root = str(tmp_path_factory.mktemp("ps_push"))
    with open(f"{root}/train.csv", "w", encoding="utf-8") as f:
        f.write("".join(sample_rows("movielens_train.csv", TRAIN_ROWS)))
    with open(f"{root}/test.csv", "w", encoding="utf-8") as f:
        f.write("".join(sample_rows("movielens_test.csv", 64)))
    convert = runpy.run_path(os.path.join(REPO, "scripts", "csv_to_parquet.py"))["convert"]
    for part in ("train", "test"):
        convert(CONFIG, f"{root}/{part}.csv", f"{root}/{part}.parquet", 100, {})
    edits = _edits(root, redis_server.url)
    args = small_model_args(CONFIG, edits, f"{root}/small.config")
    code, stdout, stderr = run_launch(
        ["--num_workers", "1", "--num_ps", "2", "--evaluator", "--max_restarts", "0"], args,
        root, timeout=300)
    assert code == 0, stderr[-4000:] + stdout[-4000:]
    return root, args[1], stdout, stderr


@pytest.fixture(scope="module")
def checkpointed(job):
    """The chief's last checkpoint in a single-process model, and the config."""
    from easy_rec.pipeline import load_pipeline_config
    from easy_rec.training.restore import load_trained_model

    _, config_path, _, _ = job
    config = load_pipeline_config(config_path).config
    model, step, _ = load_trained_model(config, base_dir=SAMPLES)
    assert step == STEPS
    return model, config


def test_the_chief_saved_the_parquet_position(job):
    import tensorflow as tf

    root, _, _, _ = job
    reader = tf.train.load_checkpoint(tf.train.latest_checkpoint(f"{root}/model"))
    assert any(name.startswith("train_iterator") for name in reader.get_variable_to_shape_map())


def test_redis_holds_the_checkpointed_rows_of_every_id(job, checkpointed, redis_server):
    model, _ = checkpointed
    store = EmbeddingStore(connect(redis_server.url), MODEL_NAME)
    info = store.version_info(store.current_version())
    records, _ = store.pushes_after(info.version, None)
    # the version is written at the first push (step 4); deltas at steps 8 and 12
    assert [(r.push, r.full) for r in records] == [(1, False), (2, False)]
    tables = stored_tables(model, 1000)
    assert tables
    for name, table in tables.items():
        rows, missing = store.read_rows(info, {name: np.arange(table.num_ids)})
        assert missing == 0
        np.testing.assert_array_equal(rows[name], table.weights.numpy(), err_msg=name)


def test_delta_pushes_carry_only_touched_ids(job, redis_server):
    root, _, _, _ = job
    store = EmbeddingStore(connect(redis_server.url), MODEL_NAME)
    records, _ = store.pushes_after(store.current_version(), None)
    with open(f"{root}/train.csv", encoding="utf-8") as f:
        users = {line.split("\t")[1] for line in f}
    names = [n for n in records[0].ids if n.startswith("user_id")]
    assert names, records[0].ids.keys()
    for name in names:
        pushed = [set(r.ids[name].tolist()) for r in records]
        # each push: the users of its 4 batches of 32 rows, never an untouched row
        assert all(0 < len(ids) <= PUSH_EVERY * 32 for ids in pushed), name
        assert len(set.union(*pushed)) <= len(users) < 12000


def test_the_evaluator_evaluates_the_checkpoints_and_the_chief_none(job):
    root, _, stdout, stderr = job
    assert _summary(stdout, "evaluator:0")["global_step"] == STEPS
    chief = _summary(stdout, "chief:0")
    assert chief["global_step"] == STEPS and "auc" not in chief
    with open(f"{root}/model/eval_results/history.jsonl", encoding="utf-8") as f:
        steps = [json.loads(line)["global_step"] for line in f]
    assert steps[-1] == STEPS and steps == sorted(set(steps))   # each checkpoint once
    assert "[chief:0] " in stderr and "evaluator task evaluates the checkpoints" in stderr
    assert "easy_rec.distribute.launch succeeded" in stderr   # every task ended
    assert not os.path.exists(f"{root}/model/EVALUATOR_RUNNING")
