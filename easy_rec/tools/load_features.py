"""`python -m easy_rec.tools.load_features`: load a feature table into Redis as a new version.

    python -m easy_rec.tools.load_features --redis_url redis://127.0.0.1:6379/0 --table user \\
        --key_field user_id --input_path users.csv --with_header --pipeline_config x.config

Reads CSV or Parquet files (paths or globs, comma separated) with the readers of batch
prediction, types each column as data_config's input_fields say (or as --input_fields'
name:TYPE; STRING when neither says), fills empty cells with default_val, and writes the rows
to a new version of the table in pipelined batches. Only when every row was written is the
table's current version switched to it (the version it replaces expires after
--expire_old_secs). Columns: --columns, else with --pipeline_config the columns its features
read (plus the key), else every column. A row that does not parse, or has no key, fails the
load (file:line named; the current version stays) unless --ignore_error skips and counts it.
Prints one JSON line: table, version, rows, keys, bad_rows, seconds. See docs/serving.md.
The Redis password comes from the URL or $EASY_REC_REDIS_PASSWORD and is never printed.
"""
from __future__ import annotations

import argparse
import json
import sys
from dataclasses import asdict

from easy_rec import cli
from easy_rec.serving.options import add_table_arguments


def build_parser() -> argparse.ArgumentParser:
    """The command line of the feature loader."""
    parser = cli.build_parser("easy_rec.tools.load_features", __doc__)
    parser.add_argument("--redis_url", required=True,
                        help="redis://[:password@]host:port/db (or rediss://, unix://)")
    parser.add_argument("--table", required=True, help="feature table, e.g. user or item")
    parser.add_argument("--key_field", required=True, help="column whose value keys a row")
    parser.add_argument("--input_path", required=True,
                        help="input file(s): paths or globs, comma separated")
    parser.add_argument("--columns", default=None,
                        help="columns to load, comma separated (the key is always loaded)")
    parser.add_argument("--namespace", default="easy_rec", help="prefix of the Redis keys")
    parser.add_argument("--expire_old_secs", type=int, default=24 * 3600,
                        help="seconds the replaced version stays readable")
    parser.add_argument("--num_buckets", type=int, default=1024,
                        help="Redis hashes the rows of a version spread over")
    add_table_arguments(parser, "rows read and converted at a time (bounds memory)",
                        batch_help="rows per pipelined write", batch_size=10000)
    parser.set_defaults(saved_model_dir="", output_path="")
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point; prints the load's summary as one JSON line and returns the exit status."""
    args = cli.parse_args(build_parser(), argv)
    import redis

    from easy_rec.store.redis_client import connect, redacted
    from easy_rec.store.versions import LoadError
    from easy_rec.tools.feature_load import load_features, plan_load

    plan = plan_load(args)
    try:
        summary = load_features(connect(args.redis_url), plan)
    except (LoadError, redis.RedisError) as error:
        print(f"error: {error} (redis {redacted(args.redis_url)})", file=sys.stderr)
        return 1
    summary.redis = redacted(args.redis_url)
    print(json.dumps(asdict(summary), sort_keys=True))
    return 0


if __name__ == "__main__":
    cli.run(main)
