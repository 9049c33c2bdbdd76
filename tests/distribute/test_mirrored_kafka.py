"""Kafka input under MultiWorkerMirroredStrategy: each of 2 tasks reads its own partition,
the chief's checkpoint holds the offsets of both, and after SIGKILL of both tasks and a
restart every message is trained exactly once relative to the restored model."""
from __future__ import annotations

import re

import pytest
import tensorflow as tf
from cluster_helpers import (
    Cluster,
    checkpoint_step,
    make_cluster,
    small_model,
    wait_for_checkpoint,
)
from google.protobuf import text_format
from kafka_helpers import fill, kafka_config, movielens_lines, new_topic

pytestmark = pytest.mark.slow

MESSAGES = 1000
BAD_EVERY = 5  # every 5th message is malformed: a gap or a repeat changes their count


def partition_values(servers: str, topic: str) -> dict[int, list[bytes]]:
    """The messages of each partition of `topic`, by offset."""
    from kafka import KafkaConsumer, TopicPartition

    consumer = KafkaConsumer(bootstrap_servers=servers, enable_auto_commit=False)
    try:
        tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic))]
        consumer.assign(tps)
        consumer.seek_to_beginning(*tps)
        ends = consumer.end_offsets(tps)
        values: dict[int, list[bytes]] = {tp.partition: [] for tp in tps}
        for _ in range(200):  # bounded: a few polls read everything
            if all(len(values[tp.partition]) >= ends[tp] for tp in tps):
                break
            for tp, records in consumer.poll(timeout_ms=500).items():
                values[tp.partition] += [r.value for r in records]
        return values
    finally:
        consumer.close()


def write_config(path: str, model_dir: str, servers: str, topic: str, **edits) -> str:
    config = kafka_config(model_dir, servers, topic, **{
        "data_config.batch_size": 16, "data_config.num_epochs": 0,
        "data_config.ignore_error": True,
        "train_config.train_distribute": "MultiWorkerMirroredStrategy", **edits})
    small_model(config)
    with open(path, "w") as f:
        f.write(text_format.MessageToString(config))
    return path


def run_cluster(root: str, config: str) -> Cluster:
    cluster = Cluster(make_cluster(chief=1, worker=1), root)
    cluster.start_all(["--pipeline_config", config])
    return cluster


def test_two_tasks_train_every_message_once_across_a_cluster_restart(kafka_broker, tmp_path):
    servers, root = kafka_broker.servers, str(tmp_path)
    model_dir = f"{root}/model"
    topic = new_topic(servers, "mwms", partitions=2)
    lines = movielens_lines(MESSAGES)
    lines = ["malformed\n" if i % BAD_EVERY == 2 else line for i, line in enumerate(lines)]
    fill(servers, topic, lines)
    values = partition_values(servers, topic)
    assert sorted(values) == [0, 1] and sum(map(len, values.values())) == MESSAGES
    assert all(len(v) > 200 for v in values.values())  # both partitions have messages

    # run 1: trains without end, killed (both tasks) once a checkpoint exists
    first = run_cluster(root, write_config(f"{root}/a.config", model_dir, servers, topic, **{
        "train_config.num_steps": 100000, "train_config.save_checkpoints_steps": 3}))
    try:
        wait_for_checkpoint(model_dir, first, 300)
    finally:
        first.kill("chief", 0)
        first.kill("worker", 0)
        first.stop()
    restored_path = tf.train.latest_checkpoint(model_dir)
    restored = checkpoint_step(restored_path)
    saved = tf.train.load_checkpoint(restored_path).get_tensor(
        "kafka_offsets/.ATTRIBUTES/VARIABLE_VALUE").tolist()

    # run 2: resumes from the checkpoint and trains 6 more steps
    cluster = run_cluster(root, write_config(f"{root}/b.config", model_dir, servers, topic, **{
        "train_config.num_steps": restored + 6}))
    try:
        assert cluster.wait("chief", 0, 300) == 0, cluster.log("chief", 0)[-4000:]
        assert cluster.wait("worker", 0, 60) == 0, cluster.log("worker", 0)[-4000:]
    finally:
        cluster.stop()

    # each task resumed its own partition at the checkpoint's offset
    for task, partition in (("chief", 0), ("worker", 1)):
        match = re.search(r"resuming topic \S+ at offsets \{(\d+): (\d+)\}",
                          cluster.log(task, 0))
        assert match, cluster.log(task, 0)[-3000:]
        assert [int(match.group(1)), int(match.group(2))] == [partition, saved[partition]]
    final = tf.train.load_checkpoint(tf.train.latest_checkpoint(model_dir)).get_tensor
    offsets = final("kafka_offsets/.ATTRIBUTES/VARIABLE_VALUE").tolist()
    assert all(o > s for o, s in zip(offsets, saved))  # both partitions moved on
    # the malformed messages behind the final model: those before the final offset of each
    # partition, each counted once (a partition read again from 0, or resumed past the
    # checkpoint, counts more or fewer)
    expected = sum(v.startswith(b"malformed") for p, o in enumerate(offsets)
                   for v in values[p][:o])
    assert final("malformed_rows/.ATTRIBUTES/VARIABLE_VALUE") == expected
