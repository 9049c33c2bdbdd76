"""`python -m easy_rec.serve --saved_model_dir D --port P`: the online scoring service.

TensorFlow Serving's REST API (predict, model status) over an export folder of versions (new
ones are loaded, warmed up and swapped in without failing a request), plus a recommend endpoint
that scores N items for one user from the features in Redis (--redis_url). Binds 127.0.0.1
unless --host says otherwise. See docs/serving.md.
"""
from __future__ import annotations

import argparse

from easy_rec import cli


def build_parser() -> argparse.ArgumentParser:
    """The command line of the scoring service."""
    parser = cli.build_parser("easy_rec.serve", __doc__)
    parser.add_argument("--saved_model_dir", required=True,
                        help="one SavedModel, or an export folder of numbered versions (watched)")
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (0.0.0.0 exposes the service to the network)")
    parser.add_argument("--model_name", default="model", help="the name in /v1/models/<name>")
    parser.add_argument("--keep_versions", type=int, default=2,
                        help="newest versions kept loaded and addressable")
    parser.add_argument("--poll_secs", type=float, default=5.0,
                        help="how often the export folder is checked for new versions")
    parser.add_argument("--num_threads", type=int, default=4,
                        help="threads that run model and feature store calls")
    parser.add_argument("--redis_url", default=None,
                        help="feature store for :recommend, redis://[:password@]host:port/db "
                             "(or the password in $EASY_REC_REDIS_PASSWORD)")
    parser.add_argument("--namespace", default="easy_rec", help="feature store key prefix")
    parser.add_argument("--user_table", default="user", help="feature table of users")
    parser.add_argument("--item_table", default="item", help="feature table of items")
    parser.add_argument("--user_key", default="user_id", help="input column of the user id")
    parser.add_argument("--item_key", default="item_id", help="input column of the item id")
    parser.add_argument("--item_cache_size", type=int, default=100_000,
                        help="item rows cached in process (0: no cache)")
    parser.add_argument("--item_cache_ttl_secs", type=float, default=60.0,
                        help="how long a cached item row is used (0: no cache)")
    parser.add_argument("--max_body_bytes", type=int, default=1 << 20,
                        help="largest request body (413 beyond)")
    parser.add_argument("--max_items", type=int, default=1000,
                        help="most rows of a predict request / items of a recommend request "
                             "(413 beyond)")
    parser.add_argument("--body_timeout_secs", type=float, default=10.0,
                        help="time a client has to send its request body (408 beyond)")
    parser.add_argument("--max_connections", type=int, default=1000,
                        help="concurrent connections and requests (503 beyond)")
    parser.add_argument("--keep_alive_secs", type=float, default=5.0,
                        help="idle keep-alive connections are closed after this")
    parser.add_argument("--drain_secs", type=float, default=30.0,
                        help="on SIGTERM, time the requests in flight have to finish")
    return parser


def main() -> int:
    """Entry point; serves until SIGTERM / SIGINT."""
    args = cli.parse_args(build_parser())
    from easy_rec.serving.limits import Limits
    from easy_rec.serving.recommend import FeatureTables
    from easy_rec.serving.server import ServeOptions, serve

    serve(ServeOptions(
        saved_model_dir=args.saved_model_dir, port=args.port, model_name=args.model_name,
        host=args.host, redis_url=args.redis_url, namespace=args.namespace,
        tables=FeatureTables(args.user_table, args.item_table, args.user_key, args.item_key),
        keep_versions=args.keep_versions, poll_secs=args.poll_secs, num_threads=args.num_threads,
        item_cache_size=args.item_cache_size, item_cache_ttl_secs=args.item_cache_ttl_secs,
        limits=Limits(args.max_body_bytes, args.max_items, args.body_timeout_secs),
        max_connections=args.max_connections, keep_alive_secs=args.keep_alive_secs,
        drain_secs=args.drain_secs))
    return 0


if __name__ == "__main__":
    cli.run(main)
