"""`python -m easy_rec.serve --saved_model_dir D --port P`: the online scoring service.

TensorFlow Serving's REST API (predict, model status) over an export folder of versions (new
ones are loaded, warmed up and swapped in without failing a request), plus a recommend endpoint
that scores N items for one user from the features in Redis (--redis_url). Binds 127.0.0.1
unless --host says otherwise. See docs/serving.md.
"""
from __future__ import annotations

import argparse

from easy_rec import cli

# (option, default, help) of the plain options; NUMBER_OPTIONS are ServeOptions fields
TEXT_OPTIONS = [
    ("namespace", "easy_rec", "feature store key prefix"),
    ("user_table", "user", "feature table of users"),
    ("item_table", "item", "feature table of items"),
    ("user_key", "user_id", "input column of the user id"),
    ("item_key", "item_id", "input column of the item id"),
]
NUMBER_OPTIONS = [
    ("keep_versions", 2, "newest versions kept loaded and addressable"),
    ("poll_secs", 5.0, "how often the export folder is checked for new versions"),
    ("num_threads", 4, "threads that run model and feature store calls"),
    ("item_cache_size", 100_000, "item rows cached in process (0: no cache)"),
    ("item_cache_ttl_secs", 60.0, "how long a cached item row is used (0: no cache)"),
    ("max_connections", 1000, "concurrent connections and requests (503 beyond)"),
    ("keep_alive_secs", 5.0, "idle keep-alive connections are closed after this"),
    ("drain_secs", 30.0, "on SIGTERM, time the requests in flight have to finish"),
]
LIMIT_OPTIONS = [
    ("max_body_bytes", 1 << 20, "largest request body (413 beyond)"),
    ("max_items", 1000, "most rows of a predict request / items of a recommend request (413 "
                        "beyond)"),
    ("body_timeout_secs", 10.0, "time a client has to send its request body (408 beyond)"),
]


def build_parser() -> argparse.ArgumentParser:
    """The command line of the scoring service."""
    parser = cli.build_parser("easy_rec.serve", __doc__)
    parser.add_argument("--saved_model_dir", required=True,
                        help="one SavedModel, or an export folder of numbered versions (watched)")
    parser.add_argument("--port", type=int, required=True, help="TCP port")
    parser.add_argument("--host", default="127.0.0.1",
                        help="address to bind (0.0.0.0 exposes the service to the network)")
    parser.add_argument("--model_name", default="model", help="the name in /v1/models/<name>")
    parser.add_argument("--redis_url", default=None,
                        help="feature store for :recommend, redis://[:password@]host:port/db "
                             "(or the password in $EASY_REC_REDIS_PASSWORD)")
    parser.add_argument("--embedding_redis_url", default=None,
                        help="embedding store of a split export (default: the URL in the "
                             "export's config; password as for --redis_url)")
    parser.add_argument("--embedding_cache_bytes", type=int, default=None,
                        help="byte bound of the hot-id cache of each loaded split export "
                             "(default 64 MiB)")
    for name, default, text in TEXT_OPTIONS + NUMBER_OPTIONS + LIMIT_OPTIONS:
        parser.add_argument(f"--{name}", type=type(default), default=default, help=text)
    return parser


def main() -> int:
    """Entry point; serves until SIGTERM / SIGINT."""
    args = cli.parse_args(build_parser())
    from easy_rec.serving.limits import Limits
    from easy_rec.serving.model_versions import EmbeddingStoreOptions
    from easy_rec.serving.recommend import FeatureTables
    from easy_rec.serving.server import ServeOptions, serve

    serve(ServeOptions(
        saved_model_dir=args.saved_model_dir, port=args.port, model_name=args.model_name,
        host=args.host, redis_url=args.redis_url, namespace=args.namespace,
        tables=FeatureTables(args.user_table, args.item_table, args.user_key, args.item_key),
        limits=Limits(*(getattr(args, name) for name, _, _ in LIMIT_OPTIONS)),
        embedding_store=EmbeddingStoreOptions(args.embedding_redis_url, **(
            {"cache_bytes": args.embedding_cache_bytes} if args.embedding_cache_bytes else {})),
        **{name: getattr(args, name) for name, _, _ in NUMBER_OPTIONS}))
    return 0


if __name__ == "__main__":
    cli.run(main)
