"""Kafka input settings that need no broker: addresses, consumer options, start positions,
partition shares. Kept free of TensorFlow and kafka-python so config validation can use it."""
from __future__ import annotations

import json
import os
from datetime import datetime

from easy_rec.input.shards import Shard
from easy_rec.protos import kafka_pb2

SERVERS_ENV = "EASY_REC_KAFKA_SERVERS"
OFFSET_TIME_FORMAT = "%Y%m%d %H:%M:%S"


def bootstrap_servers(server: kafka_pb2.KafkaServer) -> str:
    """The bootstrap address: $EASY_REC_KAFKA_SERVERS when set, else server.server."""
    return os.environ.get(SERVERS_ENV) or server.server


def consumer_settings(server: kafka_pb2.KafkaServer) -> dict[str, object]:
    """kafka-python keyword arguments from config_global / config_topic "name=value" entries."""
    settings: dict[str, object] = {}
    for entry in list(server.config_global) + list(server.config_topic):
        name, _, value = entry.partition("=")
        settings[name.strip().replace(".", "_")] = _setting_value(value.strip())
    return settings


def _setting_value(text: str) -> object:
    if text.lower() in ("true", "false"):
        return text.lower() == "true"
    try:
        return int(text)
    except ValueError:
        return text


def _offset_info_object(text: str) -> dict:
    try:
        raw = json.loads(text)
    except json.JSONDecodeError as error:
        raise ValueError(f"offset_info is not valid JSON: {error}") from None
    if not isinstance(raw, dict):
        raise ValueError("offset_info must be a JSON object partition -> offset, or "
                         '{"timestamp": seconds}')
    return raw


def offset_info_time(text: str) -> int | None:
    """Milliseconds since the epoch of an offset_info '{"timestamp": <seconds>}' (the form
    EasyRec's sample deepfm_combo_avazu_kafka_time_offset.config uses: every partition starts
    at that time, as with offset_time); None for a partition -> offset object."""
    raw = _offset_info_object(text)
    if "timestamp" not in raw:
        return None
    seconds = raw["timestamp"]
    if len(raw) > 1 or not isinstance(seconds, int) or seconds < 0:
        raise ValueError('offset_info {"timestamp": seconds} takes one non-negative integer '
                         "number of seconds and no partition entries")
    return seconds * 1000


def parse_offset_info(text: str) -> dict[int, int]:
    """'{"0": 10, "1": 20}' -> {0: 10, 1: 20}; ValueError when malformed."""
    raw = _offset_info_object(text)
    offsets = {}
    for partition, offset in raw.items():
        if not str(partition).isdigit() or not isinstance(offset, int) or offset < 0:
            raise ValueError(f"offset_info entry {partition!r}: {offset!r} is not "
                             "partition number: non-negative offset")
        offsets[int(partition)] = offset
    return offsets


def parse_offset_time(text: str) -> int:
    """Milliseconds since the epoch of '%Y%m%d %H:%M:%S' (local time) or of a number of
    seconds; ValueError when it is neither."""
    text = text.strip()
    if text.isdigit():
        return int(text) * 1000
    try:
        return int(datetime.strptime(text, OFFSET_TIME_FORMAT).timestamp() * 1000)
    except ValueError:
        raise ValueError(f"offset_time {text!r} is neither '{OFFSET_TIME_FORMAT}' nor seconds "
                         "since the epoch") from None


def start_time(server: kafka_pb2.KafkaServer) -> int | None:
    """Milliseconds since the epoch where reading starts by time (offset_time, or offset_info
    '{"timestamp": seconds}'); None when it starts at offsets or at the earliest one.
    ValueError when the setting is malformed."""
    which = server.WhichOneof("offset")
    if which == "offset_time":
        return parse_offset_time(server.offset_time)
    if which == "offset_info":
        return offset_info_time(server.offset_info)
    return None


def assigned_partitions(partitions: list[int], shard: Shard) -> list[int]:
    """The partitions share `shard` reads: p % shard.count == shard.index."""
    shard.check()
    return sorted(p for p in partitions if p % shard.count == shard.index)
