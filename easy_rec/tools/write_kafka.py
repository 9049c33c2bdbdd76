"""`python -m easy_rec.tools.write_kafka`: write the lines of delimited files to a Kafka topic.

One message per line: the value is the line, the key the sample id (the line's row number
across the files, counted from 0 after any header, or the cell of --key_column). Messages are
spread over partitions by key hash. The topic is created with --partitions when it does not
exist. Prints one JSON line: topic, message count and count per partition.

    python -m easy_rec.tools.write_kafka --servers 127.0.0.1:9092 --topic samples \\
        --input_path samples/data/movielens_train.csv --partitions 2
"""
from __future__ import annotations

import json
import logging
import os
import sys
from collections import Counter
from collections.abc import Iterable, Iterator

from easy_rec import cli
from easy_rec.input.kafka_settings import SERVERS_ENV, parse_offset_time

logger = logging.getLogger(__name__)


def ensure_topic(servers: str, topic: str, partitions: int) -> None:
    """Creates `topic` with `partitions` partitions unless it exists."""
    from kafka import KafkaAdminClient
    from kafka.admin import NewTopic
    from kafka.errors import TopicAlreadyExistsError

    admin = KafkaAdminClient(bootstrap_servers=servers.split(","), client_id="easy_rec_writer")
    try:
        if topic not in admin.list_topics():
            admin.create_topics([NewTopic(topic, num_partitions=partitions, replication_factor=1)])
            logger.info("created topic %s with %d partitions", topic, partitions)
    except TopicAlreadyExistsError:
        pass
    finally:
        admin.close()


def write_messages(servers: str, topic: str, messages: Iterable[tuple[bytes, bytes]],
                   timestamp_ms: int | None = None) -> dict[int, int]:
    """Sends (key, value) pairs and waits for every acknowledgement; count per partition.

    Raises the first send error after flushing.
    """
    from kafka import KafkaProducer

    producer = KafkaProducer(bootstrap_servers=servers.split(","), acks="all", linger_ms=20,
                             batch_size=256 * 1024, client_id="easy_rec_writer")
    counts: Counter = Counter()
    errors: list[Exception] = []
    try:
        for key, value in messages:
            future = producer.send(topic, key=key, value=value, timestamp_ms=timestamp_ms)
            future.add_callback(lambda meta: counts.update([meta.partition]))
            future.add_errback(errors.append)
        producer.flush()
    finally:
        producer.close()
    if errors:
        raise errors[0]
    return dict(sorted(counts.items()))


def file_messages(paths: list[str], separator: str, key_column: int | None,
                  skip_header: bool) -> Iterator[tuple[bytes, bytes]]:
    """(key, line) of every line of `paths`; keys are row numbers or the key_column cell."""
    row = 0
    for path in paths:
        with open(path, "rb") as f:
            if skip_header:
                f.readline()
            for raw in f:
                line = raw.rstrip(b"\r\n")
                if not line:
                    continue
                if key_column is None:
                    key = str(row).encode()
                else:
                    key = line.split(separator.encode())[key_column]
                row += 1
                yield key, line


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    parser = cli.build_parser("easy_rec.tools.write_kafka", __doc__)
    parser.add_argument("--servers", default=os.environ.get(SERVERS_ENV),
                        help=f"bootstrap servers host:port[,host:port] (default ${SERVERS_ENV})")
    parser.add_argument("--topic", required=True)
    parser.add_argument("--input_path", required=True, help="comma separated files")
    parser.add_argument("--partitions", type=int, default=1,
                        help="partitions of the topic when it is created (default 1)")
    parser.add_argument("--key_column", type=int, default=None,
                        help="0-based column holding the sample id (default: row number)")
    parser.add_argument("--separator", default=",", help="column separator for --key_column")
    parser.add_argument("--skip_header", action="store_true", help="files start with a header")
    parser.add_argument("--timestamp", default=None,
                        help="message time for all messages: '%%Y%%m%%d %%H:%%M:%%S' or epoch "
                             "seconds (default: now)")
    args = cli.parse_args(parser, argv, tensorflow=False)
    if not args.servers:
        parser.error(f"--servers or ${SERVERS_ENV} is required")
    separator = args.separator.encode().decode("unicode_escape")
    paths = [p.strip() for p in args.input_path.split(",") if p.strip()]
    timestamp = parse_offset_time(args.timestamp) if args.timestamp else None
    ensure_topic(args.servers, args.topic, args.partitions)
    counts = write_messages(args.servers, args.topic,
                            file_messages(paths, separator, args.key_column, args.skip_header),
                            timestamp)
    print(json.dumps({"topic": args.topic, "messages": sum(counts.values()),
                      "partitions": counts}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
