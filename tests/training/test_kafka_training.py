"""Training from Kafka against a real broker: exactly-once restart after kill -9, broker restart
during training, a long outage ending the job, periodic exports, offsets committed to the group."""
from __future__ import annotations

import json
import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections import Counter

import pytest
import tensorflow as tf
from conftest import REPO
from kafka_helpers import fill, kafka_config, movielens_lines, new_topic

from easy_rec.export.exporter import list_exports
from easy_rec.input.kafka_input import KEY_KEY, KafkaOutageError
from easy_rec.training.trainer import Trainer

pytestmark = pytest.mark.slow  # every test here trains against a Kafka broker

# Trains without end from the topic, logging "<run> <step> <keys...>" before each step
# (line-buffered, so every line is in the file when the process is killed).
TRAINER_SCRIPT = r"""
import sys
import time
sys.path.insert(0, sys.argv[4])
from kafka_helpers import kafka_config
from easy_rec.training.trainer import Trainer
config = kafka_config(sys.argv[1], sys.argv[2], sys.argv[3], **{
    "data_config.num_epochs": 0, "train_config.save_checkpoints_steps": 2})
log = open(sys.argv[5], "a", buffering=1)
trainer = None
def observe(batch):
    step = int(trainer.global_step) + 1
    log.write(f"first {step} " + " ".join(k.decode() for k in batch["__kafka_key__"].numpy()) + "\n")
    time.sleep(0.05)  # keep the run mid-stream until it is killed
trainer = Trainer(config, batch_observer=observe)
trainer.train()
"""


def _key_logger(trainer_ref: list, run: str, lines: list[str]):
    def observe(batch):
        step = int(trainer_ref[0].global_step) + 1
        lines.append(f"{run} {step} " + " ".join(k.decode() for k in batch[KEY_KEY].numpy()))
    return observe


def _trained_keys(lines: list[str], restored_step: int) -> Counter:
    """Keys of the batches behind the final model: run 'first' up to the restored step, then
    everything run 'second' trained."""
    counts: Counter = Counter()
    for line in lines:
        run, step, *keys = line.split()
        if run == "second" or int(step) <= restored_step:
            counts.update(keys)
    return counts


def _train(config, run: str, lines: list[str]) -> Trainer:
    ref: list = []
    trainer = Trainer(config, batch_observer=_key_logger(ref, run, lines))
    ref.append(trainer)
    trainer.train()
    return trainer


def test_kill_9_then_restart_trains_every_message_exactly_once(kafka_broker, tmp_path):
    servers = kafka_broker.servers
    topic = new_topic(servers, "exactly_once")
    keys = fill(servers, topic, movielens_lines(3000))
    model_dir, log_path = str(tmp_path / "model"), str(tmp_path / "keys.log")
    proc = subprocess.Popen(
        [sys.executable, "-c", TRAINER_SCRIPT, model_dir, servers, topic,
         os.path.join(REPO, "tests"), log_path],
        env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.time() + 120
    while time.time() < deadline and proc.poll() is None:
        latest = tf.train.latest_checkpoint(model_dir)
        if latest and int(latest.rsplit("-", 1)[1]) >= 10:
            break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)  # mid-stream: 3000 messages make 47 batches of 64
    proc.wait()
    latest = tf.train.latest_checkpoint(model_dir)
    assert latest is not None, proc.stderr.read().decode()[-3000:]
    restored_step = int(latest.rsplit("-", 1)[1])
    with open(log_path) as f:
        lines = f.read().splitlines()
    assert restored_step >= 10

    second = _train(kafka_config(model_dir, servers, topic, **{"data_config.num_epochs": 1}),
                    "second", lines)
    counts = _trained_keys(lines, restored_step)
    assert sorted(counts, key=int) == keys, "a message was skipped"
    assert set(counts.values()) == {1}, "a message was trained twice"
    final = tf.train.latest_checkpoint(model_dir)
    assert int(final.rsplit("-", 1)[1]) == int(second.global_step)
    assert sum(tf.train.load_variable(final, "kafka_offsets/.ATTRIBUTES/VARIABLE_VALUE")) == 3000


def test_broker_restart_during_training_is_retried(kafka_broker, tmp_path, caplog):
    """The trainer drains the topic, the broker goes away for 3 s, comes back and receives
    more messages: training waits, retries, logs, and trains every message once."""
    if kafka_broker.pid is None:
        pytest.skip("the broker is external: this test restarts its own")
    servers = kafka_broker.servers
    topic = new_topic(servers, "restart")
    rows = movielens_lines(200)
    keys = fill(servers, topic, rows[:100])
    config = kafka_config(str(tmp_path / "model"), servers, topic, **{
        "data_config.num_epochs": 0, "data_config.batch_size": 1, "train_config.num_steps": 200,
        "kafka_train_input.max_outage_secs": 60,
        "kafka_train_input.config_global": ["request.timeout.ms=1000"]})

    def restart_then_write_more():
        kafka_broker.restart(down_secs=3.0)
        keys.extend(fill(servers, topic, rows[100:], 100))

    restart = threading.Thread(target=restart_then_write_more)
    lines: list[str] = []
    ref: list = []

    def observe(batch):
        if int(ref[0].global_step) == 99:  # the last message before the outage
            restart.start()
        _key_logger(ref, "second", lines)(batch)

    trainer = Trainer(config, batch_observer=observe)
    ref.append(trainer)
    with caplog.at_level(logging.WARNING, logger="easy_rec.input.kafka_input"):
        trainer.train()
    restart.join()
    counts = _trained_keys(lines, 0)
    assert sorted(counts, key=int) == keys and set(counts.values()) == {1}
    messages = [r.getMessage() for r in caplog.records]
    assert any("failed" in m and "retrying in" in m for m in messages), messages
    assert any("answers again" in m for m in messages), messages


def test_long_outage_ends_the_job_with_a_clear_error(kafka_broker, tmp_path):
    if kafka_broker.pid is None:
        pytest.skip("the broker is external: this test stops its own")
    servers = kafka_broker.servers
    topic = new_topic(servers, "outage")
    fill(servers, topic, movielens_lines(200))
    config = kafka_config(str(tmp_path / "model"), servers, topic, **{
        "data_config.num_epochs": 0, "kafka_train_input.max_outage_secs": 2,
        "kafka_train_input.config_global": ["request.timeout.ms=800"]})
    stopped = []

    def observe(batch):
        if not stopped:
            kafka_broker.stop()
            stopped.append(True)

    trainer = Trainer(config, batch_observer=observe)
    try:
        with pytest.raises(KafkaOutageError, match=r"did not answer for \d+ s while fetching "
                                                   r"messages \(max_outage_secs: 2\)"):
            trainer.train()
    finally:
        kafka_broker.start()
    assert int(trainer.global_step) >= 1


def test_periodic_exports_and_group_offsets(kafka_broker, tmp_path, capsys):
    from easy_rec.tools import read_kafka

    servers = kafka_broker.servers
    topic = new_topic(servers, "exports")
    fill(servers, topic, movielens_lines(640))
    model_dir = str(tmp_path / "model")
    config = kafka_config(model_dir, servers, topic, **{
        "data_config.num_epochs": 1, "export_config.export_every_n_steps": 4,
        "export_config.exports_to_keep": 2, "train_config.save_checkpoints_steps": 5,
        "kafka_train_input.group": "exports_group"})
    trainer = Trainer(config)
    trainer.train()
    assert int(trainer.global_step) >= 10  # 640 messages, batches of up to 64
    assert len(list_exports(os.path.join(model_dir, "export", "latest"))) == 2
    read_kafka.main(["--servers", servers, "--topic", topic, "--group", "exports_group",
                     "--num_messages", "0"])
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert sum(r["committed"] for r in rows) == 640 and all(r["lag"] == 0 for r in rows)
