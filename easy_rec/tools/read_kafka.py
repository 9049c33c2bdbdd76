"""`python -m easy_rec.tools.read_kafka`: peek at a topic's offsets and messages.

Prints one JSON line per partition (beginning and end offsets, and the group's committed
offset and lag with --group), then one JSON line per message read (partition, offset,
timestamp, key, value), --num_messages per partition from --offset (default: the beginning;
--from_end: the last ones).

    python -m easy_rec.tools.read_kafka --servers 127.0.0.1:9092 --topic samples --num_messages 3
"""
from __future__ import annotations

import json
import os
import sys

from easy_rec import cli
from easy_rec.input.kafka_settings import SERVERS_ENV

_TIMEOUT_MS = 10000


def partition_offsets(consumer, topic: str, with_group: bool) -> list[dict]:
    """Beginning / end (and committed, lag) offsets of every partition of `topic`."""
    from kafka import TopicPartition

    tps = [TopicPartition(topic, p) for p in sorted(consumer.partitions_for_topic(topic) or [])]
    begin = consumer.beginning_offsets(tps, _TIMEOUT_MS)
    end = consumer.end_offsets(tps, _TIMEOUT_MS)
    rows = []
    for tp in tps:
        row = {"partition": tp.partition, "beginning": begin[tp], "end": end[tp]}
        if with_group:
            committed = consumer.committed(tp)
            row.update(committed=committed, lag=None if committed is None else end[tp] - committed)
        rows.append(row)
    return rows


def peek(consumer, topic: str, partition: int, start: int, end: int, count: int) -> list[dict]:
    """Up to `count` messages of one partition from offset `start` (below `end`)."""
    from kafka import TopicPartition

    tp = TopicPartition(topic, partition)
    consumer.assign([tp])
    consumer.seek(tp, start)
    messages: list[dict] = []
    while len(messages) < count and consumer.position(tp) < end:
        for m in consumer.poll(timeout_ms=1000, max_records=count - len(messages)).get(tp, []):
            messages.append({"partition": partition, "offset": m.offset, "timestamp": m.timestamp,
                             "key": _text(m.key), "value": _text(m.value)})
    return messages[:count]


def _text(data: bytes | None) -> str | None:
    return None if data is None else data.decode("utf-8", errors="replace")


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status (1 when the topic does not exist)."""
    parser = cli.build_parser("easy_rec.tools.read_kafka", __doc__)
    parser.add_argument("--servers", default=os.environ.get(SERVERS_ENV),
                        help=f"bootstrap servers host:port[,host:port] (default ${SERVERS_ENV})")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--group", default=None, help="show this group's committed offsets")
    parser.add_argument("--partition", type=int, default=None, help="only this partition")
    parser.add_argument("--offset", type=int, default=None, help="first offset to print")
    parser.add_argument("--from_end", action="store_true", help="print the last messages")
    parser.add_argument("--num_messages", type=int, default=5, help="messages per partition")
    args = cli.parse_args(parser, argv, tensorflow=False)
    if not args.servers:
        parser.error(f"--servers or ${SERVERS_ENV} is required")
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(bootstrap_servers=args.servers.split(","), group_id=args.group,
                             enable_auto_commit=False, allow_auto_create_topics=False,
                             client_id="easy_rec_reader")
    try:
        if args.topic not in consumer.topics():
            print(f"error: no topic {args.topic!r}", file=sys.stderr)
            return 1
        rows = partition_offsets(consumer, args.topic, args.group is not None)
        for row in rows:
            if args.partition is None or row["partition"] == args.partition:
                print(json.dumps(row))
        for row in rows:
            if args.partition is not None and row["partition"] != args.partition:
                continue
            if args.from_end:
                start = max(row["end"] - args.num_messages, row["beginning"])
            else:
                start = max(args.offset if args.offset is not None else 0, row["beginning"])
            for message in peek(consumer, args.topic, row["partition"], start, row["end"],
                                args.num_messages):
                print(json.dumps(message, ensure_ascii=False))
    finally:
        consumer.close(autocommit=False)
    return 0


if __name__ == "__main__":
    sys.exit(main())
