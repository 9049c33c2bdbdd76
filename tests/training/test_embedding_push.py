"""Real-time pushes to the Redis embedding store: the rows touched in the train step reach the
current version as numbered deltas (Redis then equals the trained tables), each with a dense
SavedModel; a drift alarm holds pushes; a failed push is retried with the same ids; the first
push after a kill -9 and restart is a full one."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES, sample_rows
from pipeline_helpers import sample_config, train

from easy_rec.export.split import read_store_info
from easy_rec.store.embedding_store import EmbeddingStore
from easy_rec.store.redis_client import connect
from easy_rec.training.embedding_push import EmbeddingPusher

PUSH_EVERY = 5


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("push_data")
    (root / "train.csv").write_text("".join(sample_rows("movielens_train.csv", 3000)),
                                    encoding="utf-8")
    (root / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 64)),
                                   encoding="utf-8")
    return str(root / "train.csv"), str(root / "test.csv")


def _config(model_dir: str, data, url: str, model_name: str, steps: int, **edits):
    return sample_config("deepfm", model_dir, *data, **{
        "data_config.batch_size": 32, "data_config.num_epochs": 0,
        "train_config.num_steps": steps, "export_config.exporter_type": "none",
        "export_config.embedding_store.redis_url": url,
        "export_config.embedding_store.model_name": model_name,
        "export_config.embedding_store.min_rows_to_store": 1000,
        "export_config.embedding_store.push_every_n_steps": PUSH_EVERY, **edits})


@pytest.fixture(scope="module")
def trained(redis_server, data, tmp_path_factory):
    """A 10-step job pushing every 5 steps: a new version at step 5, push 1 at step 10."""
    model_dir = str(tmp_path_factory.mktemp("push_job"))
    trainer, _ = train(_config(model_dir, data, redis_server.url, "push_job", 2 * PUSH_EVERY))
    return trainer, model_dir


def test_pushed_rows_make_redis_equal_the_trained_tables(trained):
    trainer, _ = trained
    pusher = trainer.pusher
    assert pusher.pushes == [1]
    store = pusher.store
    info = store.version_info(store.current_version())
    records, _ = store.pushes_after(info.version, None)
    assert [(r.push, r.full) for r in records] == [(1, False)]
    for name, table in pusher._tables.items():
        assert 0 < len(records[0].ids[name]) < table.num_ids  # a delta, not the whole table
        rows, missing = store.read_rows(info, {name: np.arange(table.num_ids)})
        assert missing == 0
        np.testing.assert_array_equal(rows[name], table.weights.numpy(), err_msg=name)
        assert not pusher.touched[name].numpy().any()


def test_each_push_publishes_a_dense_model_naming_it(trained):
    _, model_dir = trained
    root = os.path.join(model_dir, "export", "push")
    infos = [read_store_info(os.path.join(root, d)) for d in sorted(os.listdir(root), key=int)]
    # the newest goes with push 1 (the version's own export, push 0, is pruned: exports_to_keep)
    assert [i["push"] for i in infos] == [1]
    assert len({i["version"] for i in infos}) == 1


class _Exports:
    """Records the dense exports a pusher asks for."""

    def __init__(self):
        self.calls = []

    def export(self, kind, release=None):
        self.calls.append((kind, release))


def test_a_drift_alarm_holds_pushes_and_keeps_the_marks(trained):
    trainer, _ = trained
    pusher, exports = trainer.pusher, _Exports()
    ids = tf.constant([3, 4], tf.int64)
    pusher.touched["user_id_embedding"].scatter_update(
        tf.IndexedSlices(tf.ones([2], tf.bool), ids))
    assert pusher.push(100, lambda kind: False, exports) is None and not exports.calls
    assert pusher.touched["user_id_embedding"].numpy()[[3, 4]].all()
    number = pusher.push(100, lambda kind: True, exports)
    assert number == 2 and exports.calls[0][1].push == 2
    records, _ = pusher.store.pushes_after(pusher.store.current_version(), None)
    np.testing.assert_array_equal(records[-1].ids["user_id_embedding"], [3, 4])


def test_a_push_that_fails_is_retried_with_the_same_ids(trained, own_redis_server):
    trainer, _ = trained
    config = trainer.config.__deepcopy__()
    config.export_config.embedding_store.redis_url = own_redis_server.url
    config.export_config.embedding_store.timeout_secs = 1
    pusher = EmbeddingPusher(config, trainer.model)
    store = EmbeddingStore(connect(own_redis_server.url), "push_job")
    store.write_version("1", {n: t.weights.numpy() for n, t in pusher._tables.items()},
                        "float32", 8)
    pusher._full = False  # as after the push that wrote version 1
    pusher.touched["movie_id_embedding"].scatter_update(
        tf.IndexedSlices(tf.ones([3], tf.bool), tf.constant([7, 8, 9], tf.int64)))
    exports = _Exports()
    os.kill(own_redis_server.pid, signal.SIGSTOP)  # Redis hangs mid-push
    try:
        assert pusher.push(1, lambda kind: True, exports) is None
    finally:
        os.kill(own_redis_server.pid, signal.SIGCONT)
    assert store.version_info("1").pushes == 0 and not exports.calls
    pusher.touched["movie_id_embedding"].scatter_update(
        tf.IndexedSlices(tf.ones([1], tf.bool), tf.constant([11], tf.int64)))
    assert pusher.push(2, lambda kind: True, exports) == 1
    records, _ = store.pushes_after("1", None)
    np.testing.assert_array_equal(records[0].ids["movie_id_embedding"], [7, 8, 9, 11])


KILL_SCRIPT = r"""
import sys
from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.trainer import Trainer
config = load_pipeline_config(sys.argv[1]).config
Trainer(config).train()
"""


def test_the_first_push_after_kill_9_is_a_full_one(redis_server, data, tmp_path):
    from google.protobuf import text_format

    model_dir = str(tmp_path / "killed")
    config = _config(model_dir, data, redis_server.url, "killed_job", 100000,
                     **{"train_config.save_checkpoints_steps": PUSH_EVERY})
    path = tmp_path / "killed.config"
    path.write_text(text_format.MessageToString(config), encoding="utf-8")
    proc = subprocess.Popen([sys.executable, "-c", KILL_SCRIPT, str(path)],
                            env=dict(os.environ, PYTHONPATH=REPO), cwd=SAMPLES,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    store = EmbeddingStore(connect(redis_server.url), "killed_job")
    deadline = time.time() + 180
    while time.time() < deadline and proc.poll() is None:
        version = store.current_version()
        if version:  # the job's first push wrote a version: kill it before the next
            break
        time.sleep(0.2)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    version = store.current_version()
    assert version is not None, proc.stderr.read().decode()[-2000:]
    before = store.version_info(version).pushes
    step = int(tf.train.latest_checkpoint(model_dir).rsplit("-", 1)[1])

    # the restarted job resumes from its checkpoint, older than the rows pushed since
    trainer, _ = train(_config(model_dir, data, redis_server.url, "killed_job",
                               step + PUSH_EVERY))
    records, _ = store.pushes_after(version, None)
    assert [r.full for r in records if r.push > before] == [True]
    table = trainer.pusher._tables["user_id_embedding"]
    rows, _ = store.read_rows(store.version_info(version),
                              {"user_id_embedding": np.arange(table.num_ids)})
    np.testing.assert_array_equal(rows["user_id_embedding"], table.weights.numpy())
