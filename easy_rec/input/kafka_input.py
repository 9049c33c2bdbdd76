"""Kafka reader: a topic's messages -> batches of named raw columns on tf.data.

A message holds one sample: its value is a delimited line laid out like data_config.input_fields
(parsed by the same LineParser as CSV files), its key the sample id. Partitions are assigned
explicitly, never through a consumer-group rebalance. Every batch carries, besides the columns,
the message keys (KEY_KEY) and the next offset of each assigned partition once the batch is
consumed (OFFSETS_KEY), so a trainer that stores the offsets of the batches it trained can
restart exactly where its model stopped.

Unreachable brokers are retried with exponential back-off and logged; an outage longer than
KafkaServer.max_outage_secs raises KafkaOutageError, and so do brokers that were never reached
within KafkaServer.startup_timeout_secs of the start (a wrong address, no broker running).
"""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import TypeVar

import numpy as np
import tensorflow as tf

from easy_rec.input.kafka_settings import (
    assigned_partitions,
    bootstrap_servers,
    consumer_settings,
    parse_offset_info,
    start_time,
)
from easy_rec.input.line_parser import POSITION_BITS, LineParser, columns_for
from easy_rec.input.shards import WHOLE, Shard
from easy_rec.protos import dataset_pb2, kafka_pb2
from easy_rec.tables.errors import InputError

KEY_KEY = "__kafka_key__"
OFFSETS_KEY = "__kafka_next_offsets__"
_POLL_MS = 200
_MAX_BACKOFF_SECS = 10.0
_REQUEST_TIMEOUT_MS = 5000

logger = logging.getLogger(__name__)
if logging.getLogger("kafka").level == logging.NOTSET:
    # kafka-python logs every connection at INFO and each retry at WARNING / ERROR; the
    # reader logs outages itself
    logging.getLogger("kafka").setLevel(logging.CRITICAL)

T = TypeVar("T")
RawBatch = tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]


class KafkaOutageError(InputError):
    """The Kafka brokers did not answer for longer than max_outage_secs (startup_timeout_secs
    before they were first reached)."""


# ------------------------------------------------------------------ broker outages
class BrokerRetry:
    """Runs broker calls, retrying failures with exponential back-off for up to a limit."""

    def __init__(self, servers: str, max_outage_secs: float,
                 clock: Callable[[], float] = time.monotonic,
                 sleep: Callable[[float], None] = time.sleep,
                 setting: str = "max_outage_secs"):
        """`max_outage_secs`: how long failures may last; `setting` names that limit's config
        field in the error."""
        self._servers = servers
        self._limit = max_outage_secs
        self._setting = setting
        self._clock = clock
        self._sleep = sleep
        self._since: float | None = None
        self._delay = 0.5

    def call(self, what: str, fn: Callable[[], T]) -> T:
        """fn(), retried while it raises a Kafka error; KafkaOutageError past the limit."""
        from kafka.errors import KafkaError

        while True:
            started = self._clock()
            try:
                result = fn()
            except KafkaError as error:
                self.failed(what, error, started)
                continue
            self.recovered()
            return result

    def failed(self, what: str, error: Exception, started: float | None = None) -> None:
        """Logs the failure and sleeps, or raises KafkaOutageError when the outage is too long;
        `started`: when the failed call began (default: now)."""
        now = self._clock()
        if self._since is None:
            self._since = now if started is None else started
        down = now - self._since
        if down >= self._limit:
            raise KafkaOutageError(
                f"Kafka brokers at {self._servers} did not answer for {down:.0f} s while "
                f"{what} ({self._setting}: {self._limit:g}); last error: {error}")
        logger.warning("Kafka at %s: %s failed (%s); down for %.1f s, retrying in %.1f s",
                       self._servers, what, error, down, self._delay)
        self._sleep(self._delay)
        self._delay = min(self._delay * 2, _MAX_BACKOFF_SECS)

    def recovered(self) -> None:
        """Resets the back-off after a successful call (logging the end of an outage)."""
        if self._since is not None:
            logger.warning("Kafka at %s answers again after %.1f s", self._servers,
                           self._clock() - self._since)
        self._since, self._delay = None, 0.5


# ------------------------------------------------------------------ messages
def message_parser(data_config: dataset_pb2.DatasetConfig, places: list[str],
                   needed_fields: list[str] | None = None,
                   with_missing: bool = False) -> LineParser:
    """The parser of message values: lines laid out like data_config.input_fields, errors
    naming `places[i]` (a partition) and the offset."""
    names = [f.input_name for f in data_config.input_fields]
    wanted = set(needed_fields) if needed_fields is not None else set(names)
    return LineParser(columns_for(data_config, {n: i for i, n in enumerate(names)}, wanted),
                      data_config.separator, len(names), data_config.ignore_error, places,
                      position_label=" offset ", with_missing=with_missing)


def parse_messages(parser: LineParser, keys: tf.Tensor, values: tf.Tensor, row_ids: tf.Tensor,
                   next_offsets: tf.Tensor) -> dict[str, tf.Tensor]:
    """One raw batch of messages (keys, values without line end, row ids packing partition
    index and offset, next offset of each partition) -> a batch of columns."""
    batch = parser.parse(row_ids, values, {KEY_KEY: keys})
    batch[OFFSETS_KEY] = next_offsets
    return batch


# ------------------------------------------------------------------ the reader
class KafkaInput:
    """Builds tf.data pipelines over the assigned partitions of a topic."""

    def __init__(self, data_config: dataset_pb2.DatasetConfig, server: kafka_pb2.KafkaServer,
                 needed_fields: list[str] | None = None, shard: Shard = WHOLE,
                 with_missing: bool = False):
        """shard: this reader's share of the topic's partitions (shards.py);
        with_missing adds the empty-cell matrix (MISSING_KEY) to each batch."""
        self._config = data_config
        self._server = server
        self.topic = server.topic
        self.servers = bootstrap_servers(server)
        self._settings = consumer_settings(server)
        self._max_outage = float(server.max_outage_secs)
        self._startup_timeout = float(server.startup_timeout_secs)
        self._reached = False  # whether a broker has answered yet
        self.timeout_ms = int(self._settings.get("request_timeout_ms", _REQUEST_TIMEOUT_MS))
        #: the partitions of the topic the job reads (all workers together)
        self.all_partitions = self._topic_partitions()
        self.partitions = assigned_partitions(self.all_partitions, shard)
        self._reached = True
        if not self.partitions:
            raise InputError(f"share {shard.index} of {shard.count} has no partition of topic "
                             f"{self.topic!r} to read")
        self.files = [f"topic {self.topic} partition {p}" for p in self.partitions]
        self._parser = message_parser(data_config, self.files, needed_fields, with_missing)
        self.failure: Exception | None = None
        self._stopping = threading.Event()

    def check_head(self, role: str) -> None:
        """Nothing to check up front: a stream's messages may still arrive, and a malformed
        one is reported by topic, partition and offset when it is read."""
        del role

    def stop(self) -> None:
        """Makes running streams end at their next poll (their datasets then end too)."""
        self._stopping.set()

    @property
    def stopping(self) -> bool:
        """True once stop() was called."""
        return self._stopping.is_set()

    # -------------------------------------------------------------- consumers
    def connect(self, group: bool = False):
        """A KafkaConsumer (no subscription; group_id only when `group`), retried on outage."""
        from kafka import KafkaConsumer
        from kafka.errors import KafkaConfigurationError

        options = dict(
            bootstrap_servers=self.servers.split(","), enable_auto_commit=False,
            allow_auto_create_topics=False, auto_offset_reset="earliest",
            request_timeout_ms=self.timeout_ms, bootstrap_timeout_ms=self.timeout_ms,
            reconnect_backoff_max_ms=2000, client_id="easy_rec",
            group_id=(self._server.group or None) if group else None)
        options.update(self._settings)
        try:
            return self.retry().call("connecting", lambda: KafkaConsumer(**options))
        except KafkaConfigurationError as error:
            raise InputError(f"kafka consumer settings (config_global / config_topic): "
                             f"{error}") from None

    def retry(self) -> BrokerRetry:
        """A fresh retry policy for a sequence of broker calls: up to startup_timeout_secs
        until the brokers first answered, then up to max_outage_secs."""
        if self._reached:
            return BrokerRetry(self.servers, self._max_outage)
        return BrokerRetry(self.servers, self._startup_timeout, setting="startup_timeout_secs")

    def _topic_partitions(self) -> list[int]:
        consumer = self.connect()
        try:
            known = self.retry().call("reading topic metadata", consumer.topics)
            if self.topic not in known:
                raise InputError(f"Kafka at {self.servers} has no topic {self.topic!r} "
                                 f"(topics: {', '.join(sorted(known)) or 'none'})")
            found = sorted(consumer.partitions_for_topic(self.topic) or [])
        finally:
            consumer.close(autocommit=False)
        wanted = int(self._server.partitions)
        if wanted:
            if wanted > len(found):
                raise InputError(f"topic {self.topic!r} has {len(found)} partitions, "
                                 f"kafka_*_input.partitions asks for {wanted}")
            found = found[:wanted]
        return found

    def topic_partitions(self) -> list:
        """kafka TopicPartition of each assigned partition."""
        from kafka import TopicPartition

        return [TopicPartition(self.topic, p) for p in self.partitions]

    # -------------------------------------------------------------- positions
    def start_offsets(self) -> list[int]:
        """Configured start of each assigned partition: offset_info, offset_time or earliest."""
        consumer = self.connect()
        retry = self.retry()
        try:
            tps = self.topic_partitions()
            earliest = retry.call("reading beginning offsets",
                                  lambda: consumer.beginning_offsets(tps, self.timeout_ms))
            start = [earliest[tp] for tp in tps]
            when = start_time(self._server)
            if when is None and self._server.WhichOneof("offset") == "offset_info":
                info = parse_offset_info(self._server.offset_info)
                start = [max(info.get(p, s), s) for p, s in zip(self.partitions, start)]
            elif when is not None:
                found = retry.call("looking up offsets for a time", lambda: consumer.offsets_for_times(
                    {tp: when for tp in tps}, self.timeout_ms))
                end = self.end_offsets(consumer)
                start = [found[tp].offset if found.get(tp) is not None else e
                         for tp, e in zip(tps, end)]
        finally:
            consumer.close(autocommit=False)
        logger.info("topic %s: start offsets %s", self.topic, dict(zip(self.partitions, start)))
        return start

    def end_offsets(self, consumer) -> list[int]:
        """Current end offset of each assigned partition (retried on outage)."""
        tps = self.topic_partitions()
        ends = self.retry().call("reading end offsets",
                                  lambda: consumer.end_offsets(tps, self.timeout_ms))
        return [ends[tp] for tp in tps]

    # -------------------------------------------------------------- datasets
    @property
    def column_names(self) -> list[str]:
        """Parsed columns, in the order of the missing-cell matrix's columns."""
        return [c.name for c in self._parser.columns]

    @property
    def output_signature(self) -> dict[str, tf.TensorSpec]:
        """Spec of one parsed batch (without the malformed-row count)."""
        return {**self._parser.output_signature,
                KEY_KEY: tf.TensorSpec([None], tf.string),
                OFFSETS_KEY: tf.TensorSpec([len(self.partitions)], tf.int64)}

    def make_dataset(self, batch_size: int, num_epochs: int | None = 1, shuffle: bool = False,
                     seed: int = 0, start_offsets: list[int] | None = None) -> tf.data.Dataset:
        """Batches from `start_offsets` (default: the configured start).

        num_epochs None reads without end, waiting for new messages; otherwise up to the end
        offsets seen when iteration starts. shuffle and seed are ignored: a stream is
        trained in order.
        """
        del shuffle, seed
        bounded = num_epochs is not None
        signature = (tf.TensorSpec([None], tf.string), tf.TensorSpec([None], tf.string),
                     tf.TensorSpec([None], tf.int64),
                     tf.TensorSpec([len(self.partitions)], tf.int64))
        raw = tf.data.Dataset.from_generator(
            lambda: self._raw_batches(batch_size, bounded, start_offsets),
            output_signature=signature)
        parsed = raw.map(self._parse, num_parallel_calls=1, deterministic=True)
        return parsed.prefetch(max(int(self._config.prefetch_size), 1))

    def _parse(self, keys: tf.Tensor, lines: tf.Tensor, row_ids: tf.Tensor,
               next_offsets: tf.Tensor) -> dict[str, tf.Tensor]:
        return parse_messages(self._parser, keys, lines, row_ids, next_offsets)

    def _raw_batches(self, batch_size: int, bounded: bool,
                     start_offsets: list[int] | None) -> Iterator[RawBatch]:
        self.failure = None
        try:
            start = list(start_offsets) if start_offsets is not None else self.start_offsets()
            yield from _Stream(self, batch_size, bounded, start).batches()
        except Exception as error:
            self.failure = error  # tf.data re-raises it wrapped; the trainer raises the original
            raise


class _Stream:
    """One pass over the assigned partitions: polling, batching and offset bookkeeping."""

    def __init__(self, reader: KafkaInput, batch_size: int, bounded: bool, start: list[int]):
        self._reader = reader
        self._batch_size = batch_size
        self._bounded = bounded
        self._index = {p: i for i, p in enumerate(reader.partitions)}
        self._next = np.asarray(start, dtype=np.int64)  # after the last message handed out
        self._retry = reader.retry()
        self._pending: list[tuple[int, int, bytes, bytes]] = []

    def batches(self) -> Iterator[RawBatch]:
        reader = self._reader
        consumer = reader.connect()
        try:
            tps = reader.topic_partitions()
            consumer.assign(tps)
            earliest = self._retry.call("reading beginning offsets",
                                        lambda: consumer.beginning_offsets(tps, reader.timeout_ms))
            for i, tp in enumerate(tps):
                if self._next[i] < earliest[tp]:
                    logger.warning("%s: offsets %d..%d were deleted (retention); starting at %d",
                                   reader.files[i], self._next[i], earliest[tp] - 1, earliest[tp])
                    self._next[i] = earliest[tp]
                consumer.seek(tp, int(self._next[i]))
            stop = np.asarray(reader.end_offsets(consumer), np.int64) if self._bounded else None
            yield from self._poll_loop(consumer, tps, stop)
        finally:
            consumer.close(autocommit=False)

    def _poll_loop(self, consumer, tps, stop: np.ndarray | None) -> Iterator[RawBatch]:
        while not self._reader.stopping:
            if stop is not None:
                done = [tp for i, tp in enumerate(tps) if self._read_to(consumer, tp) >= stop[i]]
                consumer.pause(*done)
                if len(done) == len(tps):
                    break
            records = consumer.poll(timeout_ms=_POLL_MS, max_records=4 * self._batch_size)
            if records:
                self._retry.recovered()
                self._add(records, stop)
                while len(self._pending) >= self._batch_size:
                    yield self._take(self._batch_size)
            elif self._pending:
                yield self._take(len(self._pending))  # caught up: train what there is now
            else:
                self._check_broker(consumer)
        if self._pending and not self._reader.stopping:
            yield self._take(len(self._pending))

    def _read_to(self, consumer, tp) -> int:
        return consumer.position(tp, timeout_ms=self._reader.timeout_ms) or 0

    def _check_broker(self, consumer) -> None:
        """An empty poll means caught up, or brokers down: ask for end offsets to tell."""
        from kafka.errors import KafkaError

        tps = self._reader.topic_partitions()
        try:
            consumer.end_offsets(tps, self._reader.timeout_ms)
        except KafkaError as error:
            self._retry.failed("fetching messages", error)
        else:
            self._retry.recovered()

    def _add(self, records: dict, stop: np.ndarray | None) -> None:
        for tp, messages in records.items():
            i = self._index[tp.partition]
            for m in messages:
                if stop is None or m.offset < stop[i]:
                    self._pending.append((i, m.offset, m.key or b"", (m.value or b"").rstrip(b"\r\n")))

    def _take(self, count: int) -> RawBatch:
        batch, self._pending = self._pending[:count], self._pending[count:]
        index = np.fromiter((r[0] for r in batch), np.int64, count)
        offsets = np.fromiter((r[1] for r in batch), np.int64, count)
        np.maximum.at(self._next, index, offsets + 1)
        keys = np.array([r[2] for r in batch], dtype=object)
        lines = np.array([r[3] for r in batch], dtype=object)
        row_ids = (index << POSITION_BITS) | offsets
        return keys, lines, row_ids, self._next.copy()
