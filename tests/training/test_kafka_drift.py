"""Drift guard: window statistics and alarms on synthetic batches, and on a drifted Kafka
stream whose alarm blocks the periodic export until the stream recovers."""
from __future__ import annotations

import json
import logging
import os

import numpy as np
import pytest
import tensorflow as tf
from kafka_helpers import fill, kafka_config, movielens_lines, new_topic

from easy_rec.export.exporter import list_exports
from easy_rec.input.line_parser import MISSING_KEY
from easy_rec.metrics.classification import roc_auc
from easy_rec.models.builder import build_model, model_column_plan
from easy_rec.training.drift_guard import ALARMS_FILE, DriftGuard
from easy_rec.training.trainer import Trainer

WINDOW = 400


def _guard_setup(model_dir: str, **edits):
    config = kafka_config(model_dir, "127.0.0.1:1", "unused", guard=True, **{
        "drift_guard.window_size": WINDOW, "drift_guard.max_unseen_id_rate": 0.5,
        "drift_guard.max_mean_shift": 3.0, "drift_guard.max_std_ratio": 2.0,
        "drift_guard.min_auc": 0.6, "drift_guard.stop_on_alarm": True,
        "drift_guard.min_positive_ratio": 0.0, "drift_guard.max_positive_ratio": 1.0, **edits})
    model = build_model(config)
    wanted = set(model_column_plan(config, model).columns)
    columns = [f.input_name for f in config.data_config.input_fields if f.input_name in wanted]
    return config, model, columns


def _batch(columns: list[str], ids: np.ndarray, years: np.ndarray, labels: np.ndarray):
    n = len(ids)
    batch = {c: tf.constant(np.zeros(n, np.int32)) for c in ("gender", "age", "job_id", "label")}
    batch.update(user_id=tf.constant(ids, tf.int64), movie_id=tf.constant(ids, tf.int64),
                 year=tf.constant(years.astype(np.int32)), label=tf.constant(labels, tf.int32),
                 zip_id=tf.constant([b"z"] * n), title=tf.constant([b"t"] * n),
                 genres=tf.constant([b"g"] * n))
    batch[MISSING_KEY] = tf.zeros([n, len(columns)], tf.bool)
    return batch


def test_window_statistics_alarm_and_saved_state(tmp_path):
    config, model, columns = _guard_setup(str(tmp_path))
    rng = np.random.default_rng(0)
    guard = DriftGuard(config, model, model_column_plan(config, model), columns)
    labels = rng.integers(0, 2, WINDOW)
    good = labels * 0.8 + rng.random(WINDOW) * 0.2
    guard.observe(1, _batch(columns, np.arange(WINDOW) % 100, rng.normal(1990, 5, WINDOW), labels),
                  {"probs": tf.constant(good, tf.float32)})  # warm-up window: the reference
    assert int(guard.windows) == 1 and not bool(guard.alarmed)

    bad = 1.0 - good  # predictions anti-correlated with the labels
    years = rng.normal(2040, 15, WINDOW)
    guard.observe(2, _batch(columns, 100 + np.arange(WINDOW) % 100, years, labels),
                  {"probs": tf.constant(bad, tf.float32)})
    assert bool(guard.alarmed) and guard.should_stop
    with open(os.path.join(str(tmp_path), ALARMS_FILE)) as f:
        (record,) = [json.loads(line) for line in f]
    assert record["event"] == "alarm" and record["window"] == 2 and record["global_step"] == 2
    found = {(v["metric"], v["column"]) for v in record["violations"]}
    assert {("unseen_id_rate", "user_id"), ("unseen_id_rate", "movie_id"), ("auc", None),
            ("mean_shift", "year"), ("std_ratio", "year")} <= found
    metrics = record["metrics"]
    assert metrics["auc"] == pytest.approx(roc_auc(labels, bad))
    assert metrics["unseen_id_rate"]["user_id"] == 1.0
    assert metrics["mean"]["year"] == pytest.approx(years.astype(np.int32).mean())

    path = tf.train.Checkpoint(guard=guard).write(str(tmp_path / "ckpt"))
    restored = DriftGuard(config, model, model_column_plan(config, model), columns)
    tf.train.Checkpoint(guard=restored).read(path).assert_existing_objects_matched()
    assert bool(restored.alarmed) and int(restored.windows) == 2
    restored.observe(3, _batch(columns, np.arange(WINDOW) % 200, rng.normal(1990, 5, WINDOW),
                               labels), {"probs": tf.constant(good, tf.float32)})
    assert not bool(restored.alarmed)  # ids 0..199 were all seen before the restart
    with open(os.path.join(str(tmp_path), ALARMS_FILE)) as f:
        assert json.loads(f.read().splitlines()[-1])["event"] == "clear"


def _drifted(line: str) -> str:
    """Label flipped and the age cell emptied."""
    cells = line.rstrip("\n").split("\t")
    cells[0] = str(1 - int(cells[0]))
    cells[5] = ""
    return "\t".join(cells)


@pytest.mark.slow
def test_drifted_stream_raises_the_alarm_and_blocks_exports(kafka_broker, tmp_path, caplog):
    servers = kafka_broker.servers
    topic = new_topic(servers, "drift", partitions=1)  # one partition keeps the phases in order
    rows = movielens_lines(4500)
    fill(servers, topic, rows[:1500])
    fill(servers, topic, [_drifted(r) for r in rows[1500:3000]], 1500)
    fill(servers, topic, rows[3000:], 3000)
    model_dir = str(tmp_path / "model")
    config = kafka_config(model_dir, servers, topic, guard=True, **{
        "data_config.num_epochs": 1, "data_config.batch_size": 100,
        "drift_guard.window_size": 500, "drift_guard.max_missing_rate": 0.1,
        "drift_guard.min_positive_ratio": 0.5, "drift_guard.max_positive_ratio": 0.95,
        "drift_guard.max_unseen_id_rate": 1.0, "drift_guard.min_auc": 0.0,
        "drift_guard.max_mean_shift": 0.0, "drift_guard.max_std_ratio": 0.0,
        "export_config.export_every_n_steps": 10, "export_config.exports_to_keep": 5})
    exports_while_alarmed: list[int] = []
    ref: list = []
    latest = os.path.join(model_dir, "export", "latest")

    def observe(batch):
        if ref[0].drift_guard.alarmed:
            exports_while_alarmed.append(len(list_exports(latest)))

    trainer = Trainer(config, batch_observer=observe)
    ref.append(trainer)
    with caplog.at_level(logging.WARNING):
        trainer.train()
    with open(os.path.join(model_dir, ALARMS_FILE)) as f:
        records = [json.loads(line) for line in f]
    alarms = [r for r in records if r["event"] == "alarm"]
    assert alarms and records[-1]["event"] == "clear"
    found = {(v["metric"], v["column"]) for v in alarms[0]["violations"]}
    assert {("positive_ratio", None), ("missing_rate", "age")} <= found
    assert alarms[0]["metrics"]["positive_ratio"] < 0.5
    assert len(set(exports_while_alarmed)) == 1, "an export was written while alarmed"
    assert any("export skipped" in r.getMessage() for r in caplog.records)
    assert len(list_exports(latest)) == 2  # steps 10 and 40; steps 20 and 30 were alarmed
