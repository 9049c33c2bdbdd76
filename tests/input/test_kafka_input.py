"""Kafka input: config checks, start positions, parsing, tools; against a real broker where
one is needed (the session's noida-db, see conftest.kafka_broker)."""
from __future__ import annotations

import json
import os
import re
import time

import numpy as np
import pytest
import tensorflow as tf
from kafka_helpers import KAFKA_SAMPLE, fill, movielens_lines, new_topic

from easy_rec.config.errors import ConfigError
from easy_rec.input.kafka_input import (
    KEY_KEY,
    OFFSETS_KEY,
    BrokerRetry,
    KafkaInput,
    KafkaOutageError,
)
from easy_rec.input.kafka_settings import (
    assigned_partitions,
    consumer_settings,
    parse_offset_info,
    parse_offset_time,
    start_time,
)
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.input.shards import Shard, worker_shard
from easy_rec.pipeline import load_pipeline_config, parse_pipeline_config_text
from easy_rec.protos import kafka_pb2
from easy_rec.tools import read_kafka, write_kafka

DATA = load_pipeline_config(KAFKA_SAMPLE).config.data_config


def _server(servers: str, topic: str, **fields) -> kafka_pb2.KafkaServer:
    return kafka_pb2.KafkaServer(server=servers, topic=topic, **fields)


def _read_all(reader: KafkaInput, batch_size: int = 100, **kwargs) -> list[dict]:
    return [{k: v.numpy() for k, v in b.items()}
            for b in reader.make_dataset(batch_size, num_epochs=1, **kwargs)]


# ------------------------------------------------------------------ settings, no broker
def test_offset_settings_parse_both_formats():
    assert parse_offset_info('{"0": 10, "1": 0}') == {0: 10, 1: 0}
    for bad in ('{"0": -1}', '[1, 2]', '{"x": 1}', "not json"):
        with pytest.raises(ValueError):
            parse_offset_info(bad)
    assert parse_offset_time("1651982400") == 1651982400000
    local = time.mktime(time.strptime("20220508 12:00:00", "%Y%m%d %H:%M:%S"))
    assert parse_offset_time("20220508 12:00:00") == int(local * 1000)
    with pytest.raises(ValueError, match="offset_time"):
        parse_offset_time("2022-05-08")


def test_offset_info_timestamp_starts_every_partition_at_that_time():
    # EasyRec's sample deepfm_combo_avazu_kafka_time_offset.config writes this form
    server = kafka_pb2.KafkaServer(offset_info='{"timestamp": 1650765731}')
    assert start_time(server) == 1650765731000
    assert start_time(kafka_pb2.KafkaServer(offset_time="1650765731")) == 1650765731000
    assert start_time(kafka_pb2.KafkaServer(offset_info='{"0": 5}')) is None
    for bad in ('{"timestamp": 1, "0": 2}', '{"timestamp": "soon"}', '{"timestamp": -1}'):
        with pytest.raises(ValueError, match="timestamp"):
            start_time(kafka_pb2.KafkaServer(offset_info=bad))


def test_partitions_are_shared_among_workers(monkeypatch):
    assert assigned_partitions([0, 1, 2, 3, 4], Shard(2, 1)) == [1, 3]
    monkeypatch.delenv("TF_CONFIG", raising=False)
    assert worker_shard() == Shard(1, 0)
    cluster = {"chief": ["a:1"], "worker": ["b:1", "c:1"], "ps": ["d:1"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    assert worker_shard() == Shard(3, 2)
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster, "task": {"type": "ps"}}))
    assert worker_shard() == Shard(1, 0)


def test_consumer_settings_use_kafka_python_names():
    server = kafka_pb2.KafkaServer(config_global=["fetch.max.bytes=1024", "check.crcs=false"],
                                   config_topic=["client.id=x"])
    assert consumer_settings(server) == {"fetch_max_bytes": 1024, "check_crcs": False,
                                         "client_id": "x"}


def test_broker_retry_backs_off_then_gives_up():
    from kafka.errors import KafkaTimeoutError

    now = [0.0]
    sleeps: list[float] = []

    def sleep(seconds: float) -> None:
        sleeps.append(seconds)
        now[0] += seconds

    retry = BrokerRetry("h:1", 10.0, clock=lambda: now[0], sleep=sleep)
    calls = iter([KafkaTimeoutError("down"), KafkaTimeoutError("down"), "ok"])

    def flaky():
        value = next(calls)
        if isinstance(value, Exception):
            raise value
        return value

    assert retry.call("reading", flaky) == "ok"
    assert sleeps == [0.5, 1.0]

    def down():
        raise KafkaTimeoutError("down")

    with pytest.raises(KafkaOutageError, match=r"did not answer for 1\d s .*max_outage_secs: 10"):
        retry.call("reading", down)


KAFKA_CONFIG_ERRORS = [
    ('offset_info: "{0: 1}"', "kafka_train_input.offset_info", "not valid JSON"),
    ('offset_time: "tomorrow"', "kafka_train_input.offset_time", "offset_time"),
    ('config_global: "fetch.max.bytes"', "kafka_train_input.config_global[0]", "name=value"),
]


@pytest.mark.parametrize("line, field, reason", KAFKA_CONFIG_ERRORS)
def test_bad_kafka_fields_are_reported_with_their_line(line, field, reason):
    text = open(KAFKA_SAMPLE).read().replace('  group: "easy_rec_deepfm"\n',
                                             f'  group: "easy_rec_deepfm"\n  {line}\n', 1)
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, "k.config")
    assert info.value.field == field and reason in info.value.reason
    assert text.splitlines()[info.value.line - 1].strip() == line


@pytest.mark.parametrize("edits, field", [
    ({"data_config.num_epochs": 2}, "data_config.num_epochs"),
    ({"drift_guard.max_positive_ratio": 0.2}, "drift_guard.max_positive_ratio"),
    ({"drift_guard.max_std_ratio": 0.5}, "drift_guard.max_std_ratio"),
    ({"data_config.input_type": "CSVInput"}, "kafka_train_input"),
    ({"train_input_path": "x.csv"}, "train_input_path"),
])
def test_inconsistent_streaming_configs_are_rejected(edits, field):
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(KAFKA_SAMPLE, edits)
    assert info.value.field == field
    assert info.value.line or "edit_config_json" in info.value.reason


def test_drift_guard_needs_a_stream():
    text = open(KAFKA_SAMPLE).read().replace("input_type: KafkaInput", "input_type: CSVInput")
    text = re.sub(r"kafka_(train|eval)_input \{[^}]*\}\n", "", text)
    text = 'train_input_path: "a.csv"\n' + text
    with pytest.raises(ConfigError, match="needs kafka_train_input") as info:
        parse_pipeline_config_text(text, "k.config")
    assert text.splitlines()[info.value.line - 1].startswith("drift_guard")


def test_server_may_come_from_the_environment(monkeypatch):
    text = open(KAFKA_SAMPLE).read().replace('  server: "127.0.0.1:9092"\n', "")
    with pytest.raises(ConfigError, match="EASY_REC_KAFKA_SERVERS"):
        parse_pipeline_config_text(text, "k.config")
    monkeypatch.setenv("EASY_REC_KAFKA_SERVERS", "127.0.0.1:1")
    parse_pipeline_config_text(text, "k.config")


# ------------------------------------------------------------------ with the broker
@pytest.fixture(scope="module")
def stamped_topic(kafka_broker):
    """300 rows in 2 partitions: keys 0..149 stamped at t0, 150..299 at t0 + 1 hour
    (t0 two hours ago: brokers delete messages older than their retention time)."""
    servers = kafka_broker.servers
    topic = new_topic(servers, "stamped")
    lines = movielens_lines(300)
    t0 = (int(time.time()) - 7200) * 1000
    fill(servers, topic, lines[:150], 0, timestamp_ms=t0)
    fill(servers, topic, lines[150:], 150, timestamp_ms=t0 + 3_600_000)
    return servers, topic, t0


@pytest.mark.slow
def test_reads_every_message_once_with_keys_and_next_offsets(stamped_topic):
    servers, topic, _ = stamped_topic
    reader = KafkaInput(DATA, _server(servers, topic), ["label", "user_id", "title"],
                        with_missing=True)
    assert reader.partitions == [0, 1]
    batches = _read_all(reader, batch_size=64)
    keys = [k.decode() for b in batches for k in b[KEY_KEY]]
    assert sorted(keys, key=int) == [str(i) for i in range(300)]
    assert sum(len(b["label"]) for b in batches) == 300
    assert batches[-1][OFFSETS_KEY].sum() == 300  # next offsets after the last batch
    ends = [b[OFFSETS_KEY] for b in batches]
    assert all((later >= earlier).all() for earlier, later in zip(ends, ends[1:]))
    assert batches[0]["__missing_cells__"].shape == (64, 3)
    assert batches[0]["user_id"].dtype == np.int64


@pytest.mark.slow
def test_start_positions_offset_info_offset_time_and_earliest(stamped_topic):
    servers, topic, t0 = stamped_topic
    earliest = KafkaInput(DATA, _server(servers, topic), ["label"])
    assert earliest.start_offsets() == [0, 0]
    info = KafkaInput(DATA, _server(servers, topic, offset_info='{"1": 40}'), ["label"])
    assert info.start_offsets() == [0, 40]
    seconds = str((t0 + 1_800_000) // 1000)  # between the two halves
    timed = KafkaInput(DATA, _server(servers, topic, offset_time=seconds), ["label"])
    keys = [int(k) for b in _read_all(timed) for k in b[KEY_KEY]]
    assert sorted(keys) == list(range(150, 300))
    stamped = KafkaInput(DATA, _server(servers, topic, offset_info=f'{{"timestamp": {seconds}}}'),
                         ["label"])
    assert stamped.start_offsets() == timed.start_offsets()
    later = KafkaInput(DATA, _server(servers, topic, offset_time=str(t0 // 1000 + 3 * 3600)),
                       ["label"])
    assert later.start_offsets() == [int(o) for o in _read_all(earliest)[-1][OFFSETS_KEY]]


@pytest.mark.slow
def test_malformed_message_is_reported_by_partition_and_offset(kafka_broker):
    servers = kafka_broker.servers
    topic = new_topic(servers, "malformed", partitions=1)
    lines = movielens_lines(5)
    lines[3] = lines[3].replace("\t", "\tx", 1)  # user_id "x334" is not an INT64
    fill(servers, topic, lines)
    reader = KafkaInput(DATA, _server(servers, topic), ["label", "user_id"])
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"malformed CSV row at topic {topic} partition 0 offset 3: column "
                             "user_id"):
        _read_all(reader)
    lenient = DATA.__deepcopy__()
    lenient.ignore_error = True
    batches = _read_all(KafkaInput(lenient, _server(servers, topic), ["label", "user_id"]))
    assert sum(int(b[MALFORMED_KEY]) for b in batches) == 1
    assert [k.decode() for b in batches for k in b[KEY_KEY]] == ["0", "1", "2", "4"]


@pytest.mark.slow
def test_missing_topic_and_unreachable_broker_are_clear_errors(kafka_broker):
    from easy_rec.tables.errors import InputError

    with pytest.raises(InputError, match="no topic 'nope_"):
        KafkaInput(DATA, _server(kafka_broker.servers, "nope_topic"), ["label"])
    from kafka_broker import free_port

    dead = _server(f"127.0.0.1:{free_port()}", "t", startup_timeout_secs=1,
                   config_global=["request.timeout.ms=600"])
    with pytest.raises(KafkaOutageError, match=r"did not answer .*startup_timeout_secs: 1\)"):
        KafkaInput(DATA, dead, ["label"])


@pytest.mark.slow
def test_write_and_read_tools(kafka_broker, tmp_path, capsys):
    servers = kafka_broker.servers
    data = tmp_path / "rows.csv"
    data.write_text("".join(movielens_lines(20)), encoding="utf-8")
    topic = f"tools_{os.getpid()}"
    assert write_kafka.main(["--servers", servers, "--topic", topic, "--input_path", str(data),
                             "--partitions", "2", "--key_column", "1", "--separator", "\\t"]) == 0
    written = json.loads(capsys.readouterr().out)
    assert written["messages"] == 20 and set(written["partitions"]) == {"0", "1"}
    assert read_kafka.main(["--servers", servers, "--topic", topic, "--partition", "0",
                            "--num_messages", "2"]) == 0
    rows = [json.loads(line) for line in capsys.readouterr().out.splitlines()]
    assert rows[0]["partition"] == 0 and rows[0]["beginning"] == 0 and rows[0]["end"] > 0
    assert [r["offset"] for r in rows[1:]] == [0, 1]
    first_line = next(line for line in movielens_lines(20)
                      if line.split("\t")[1] == rows[1]["key"])
    assert rows[1]["value"] == first_line.rstrip("\n")
    assert read_kafka.main(["--servers", servers, "--topic", "absent_topic"]) == 1
