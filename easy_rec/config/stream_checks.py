"""Config checks of streaming jobs: kafka_train_input / kafka_eval_input, drift_guard and
periodic exports. Called by validate._Checker; failures name the field and its line."""
from __future__ import annotations

import os
from typing import NoReturn, Protocol

from google.protobuf.message import Message

from easy_rec.input.kafka_settings import SERVERS_ENV, parse_offset_info, parse_offset_time

KAFKA_FIELDS = {"train_path": "kafka_train_input", "eval_path": "kafka_eval_input"}


class Checker(Protocol):
    """What these checks use of validate._Checker."""

    config: Message

    def fail(self, field: str, reason: str, line_field: str | None = None) -> NoReturn: ...

    def require_input(self, name: str, where: str, what: str) -> None: ...


def check_kafka_inputs(checker: Checker) -> None:
    """Topic, server, start position and consumer settings of each Kafka input."""
    config = checker.config
    for oneof, field in KAFKA_FIELDS.items():
        if config.WhichOneof(oneof) == field:
            _check_server(checker, getattr(config, field), field)
    if config.WhichOneof("train_path") == "kafka_train_input" and config.data_config.num_epochs > 1:
        checker.fail("data_config.num_epochs", "a Kafka stream is read once: num_epochs must be "
                     "0 (read without end) or 1 (up to the end offsets at start), got "
                     f"{config.data_config.num_epochs}")


def _check_server(checker: Checker, server: Message, field: str) -> None:
    if not server.topic:
        checker.fail(f"{field}.topic", f"{field} needs a topic", line_field=field)
    if not server.server and not os.environ.get(SERVERS_ENV):
        checker.fail(f"{field}.server", f"{field} needs server (bootstrap 'host:port'), or set "
                     f"${SERVERS_ENV}", line_field=field)
    which = server.WhichOneof("offset")
    try:
        if which == "offset_info":
            parse_offset_info(server.offset_info)
        elif which == "offset_time":
            parse_offset_time(server.offset_time)
    except ValueError as error:
        checker.fail(f"{field}.{which}", str(error))
    for name in ("config_global", "config_topic"):
        for i, entry in enumerate(getattr(server, name)):
            key, sep, value = entry.partition("=")
            if not sep or not key.strip() or not value.strip():
                checker.fail(f"{field}.{name}[{i}]", f"{entry!r} is not 'name=value' "
                             "(e.g. 'fetch.max.bytes=1048576')")
    if server.max_outage_secs <= 0:
        checker.fail(f"{field}.max_outage_secs", "max_outage_secs must be > 0")


def check_drift_guard(checker: Checker) -> None:
    """drift_guard needs a Kafka training input and consistent bounds."""
    config = checker.config
    if not config.HasField("drift_guard"):
        return
    guard = config.drift_guard
    if config.WhichOneof("train_path") != "kafka_train_input":
        checker.fail("drift_guard", "drift_guard watches a stream: it needs kafka_train_input")
    if guard.window_size <= 0:
        checker.fail("drift_guard.window_size", "window_size must be > 0")
    if guard.seen_id_buckets <= 0:
        checker.fail("drift_guard.seen_id_buckets", "seen_id_buckets must be > 0")
    for name in ("min_positive_ratio", "max_positive_ratio", "max_missing_rate",
                 "max_unseen_id_rate", "min_auc"):
        _require_share(checker, f"drift_guard.{name}", getattr(guard, name))
    if guard.min_positive_ratio > guard.max_positive_ratio:
        checker.fail("drift_guard.max_positive_ratio", f"max_positive_ratio "
                     f"{guard.max_positive_ratio:g} is below min_positive_ratio "
                     f"{guard.min_positive_ratio:g}")
    if guard.max_mean_shift < 0:
        checker.fail("drift_guard.max_mean_shift", "max_mean_shift must be >= 0 (0: off)")
    if guard.max_std_ratio != 0 and guard.max_std_ratio < 1:
        checker.fail("drift_guard.max_std_ratio", "max_std_ratio must be >= 1 (or 0: off), got "
                     f"{guard.max_std_ratio:g}")
    for i, column in enumerate(guard.column_missing_rate):
        where = f"drift_guard.column_missing_rate[{i}]"
        checker.require_input(column.input_name, f"{where}.input_name", "column")
        _require_share(checker, f"{where}.max_missing_rate", column.max_missing_rate)


def _require_share(checker: Checker, where: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        checker.fail(where, f"must be within [0, 1], got {value:g}")
