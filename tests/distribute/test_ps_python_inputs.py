"""Parameter-server training from inputs read in Python, where the chief reads and sends each
batch with its step: Kafka with a worker killed mid-run and then the whole cluster killed and
restarted (every message trained once relative to the restored model). Parquet through the
chief is in test_ps_push_and_evaluator.py.

How a message's training is counted: every third message of each partition is a malformed
line, which `data_config.ignore_error` drops and counts in `malformed_rows`, a variable on
the ps updated in the same scheduled step as the gradients. So for a checkpoint whose Kafka
offsets are O[p], the malformed messages below the offsets, sum((O[p] + 2) // 3), is what
`malformed_rows` must hold if each message before the offsets was trained exactly once:
fewer means messages were lost, more means batches were trained twice.
"""
from __future__ import annotations

import re
import time

import pytest
import tensorflow as tf
from cluster_helpers import Cluster, make_cluster, small_model
from google.protobuf import text_format
from kafka_helpers import kafka_config, movielens_lines, new_topic

pytestmark = pytest.mark.slow

FIRST, MORE = 300, 30  # messages per partition before the first start, before the kill
BATCH = 6
BAD_EVERY = 3  # offsets 0, 3, 6, ... of each partition hold a malformed line


def _fill(servers: str, topic: str, start: int, count: int) -> None:
    """Messages start .. start + count - 1 of each of the topic's 2 partitions (the offsets
    they get), every BAD_EVERY-th one malformed."""
    from kafka import KafkaProducer

    rows = movielens_lines(start + count)
    producer = KafkaProducer(bootstrap_servers=servers.split(","), acks="all", linger_ms=20)
    try:
        for partition in range(2):
            for i in range(start, start + count):
                value = b"malformed" if i % BAD_EVERY == 0 else rows[i].rstrip("\n").encode()
                producer.send(topic, key=f"{partition}-{i}".encode(), value=value,
                              partition=partition)
        producer.flush()
    finally:
        producer.close()


def _malformed_below(offsets) -> int:
    """Malformed messages before `offsets` (one per partition)."""
    return sum((int(o) + BAD_EVERY - 1) // BAD_EVERY for o in offsets)


def _state(checkpoint: str) -> tuple[list[int], int, int]:
    """(Kafka offsets, malformed_rows, global_step) saved in `checkpoint`."""
    def value(name):
        return tf.train.load_variable(checkpoint, f"{name}/.ATTRIBUTES/VARIABLE_VALUE")
    return ([int(o) for o in value("kafka_offsets")], int(value("malformed_rows")),
            int(value("global_step")))


def _chief_steps(cluster: Cluster) -> list[int]:
    return [int(s) for s in re.findall(r"trainer: global step (\d+):", cluster.log("chief", 0))]


def _wait(cluster: Cluster, done, what: str, timeout: float = 300) -> None:
    """Until done() (bounded); the chief must stay up meanwhile."""
    deadline = time.time() + timeout
    while time.time() < deadline:
        if done():
            return
        assert cluster.procs[("chief", 0)].poll() is None, cluster.log("chief", 0)[-3000:]
        time.sleep(0.2)
    raise AssertionError(f"{what} did not happen:\n" + cluster.log("chief", 0)[-3000:])


def _latest_step(model_dir: str) -> int:
    latest = tf.train.latest_checkpoint(model_dir)
    return int(latest.rsplit("-", 1)[1]) if latest else -1


def _kafka_args(tmp_path, name: str, model_dir: str, servers: str, topic: str,
                num_epochs: int) -> list[str]:
    """Train arguments of the small model (cluster_helpers) reading `topic` in batches of
    BATCH, malformed lines counted."""
    config = kafka_config(model_dir, servers, topic, **{
        "data_config.batch_size": BATCH, "data_config.num_epochs": num_epochs,
        "data_config.ignore_error": True, "train_config.num_steps": 0,
        "train_config.save_checkpoints_steps": 10, "train_config.log_step_count_steps": 10,
        "train_config.keep_checkpoint_max": 0})
    small_model(config)
    path = tmp_path / f"{name}.config"
    path.write_text(text_format.MessageToString(config), encoding="utf-8")
    return ["--pipeline_config", str(path)]


def test_kafka_worker_kill_then_cluster_kill_trains_each_message_once(kafka_broker, tmp_path):
    """A stream read without end, trained by 2 workers: worker 1 is killed mid-run and
    restarted, later the whole cluster gets SIGKILL (more messages having just arrived); a new
    cluster reading to the end of the topic resumes from the last checkpoint."""
    servers = kafka_broker.servers
    topic = new_topic(servers, "ps_exactly_once")
    _fill(servers, topic, 0, FIRST)
    model_dir = str(tmp_path / "model")
    args = _kafka_args(tmp_path, "stream", model_dir, servers, topic, 0)
    (tmp_path / "first").mkdir()
    (tmp_path / "second").mkdir()
    first = Cluster(make_cluster(chief=1, worker=2, ps=1), str(tmp_path / "first"))
    first.start_all(args)
    try:
        _wait(first, lambda: max(_chief_steps(first), default=0) >= 10, "step 10")
        first.kill("worker", 1)   # mid-run: its step in flight goes to worker 0 again
        killed_at = max(_chief_steps(first))
        first.start("worker", 1, args)
        _wait(first, lambda: _latest_step(model_dir) >= killed_at + 20, "two more checkpoints")
        _fill(servers, topic, FIRST, MORE)
        for task in list(first.procs):
            first.kill(*task)     # kill -9 of the whole cluster
    finally:
        first.stop()
    restored = tf.train.latest_checkpoint(model_dir)
    offsets, malformed, step = _state(restored)
    assert sum(offsets) < 2 * (FIRST + MORE), "everything was trained before the kill"
    # the worker kill may apply its step in flight twice (TensorFlow's at-least-once
    # re-dispatch): at most one batch, so at most BATCH malformed messages more
    expected = _malformed_below(offsets)
    assert expected <= malformed <= expected + BATCH, (offsets, malformed, expected)

    # one worker now: the chief reads every partition whatever the number of workers
    second = Cluster(make_cluster(chief=1, worker=1, ps=1), str(tmp_path / "second"))
    second.start_all(_kafka_args(tmp_path, "to_end", model_dir, servers, topic, 1))
    try:
        assert second.wait("chief", 0, 300) == 0, second.log("chief", 0)[-4000:]
    finally:
        second.stop()
    assert f"resumed from {restored} at global step {step}" in second.log("chief", 0)
    final_offsets, final_malformed, final_step = _state(tf.train.latest_checkpoint(model_dir))
    assert final_offsets == [FIRST + MORE] * 2, "a message was not trained"
    # every message after the restored offsets was trained exactly once into the restored model
    assert final_malformed - malformed == _malformed_below(final_offsets) - expected
    assert final_step > step
    assert second.summary("chief", 0)["global_step"] == final_step
