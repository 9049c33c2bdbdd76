"""1 user × N items scored through `easy_rec.serve`: a split export (embedding tables in the
Redis embedding store, hot-id cache warm) vs the in-graph export of the same model; prints one
JSON line.

Reuses serve_bench.py's machinery: its Setup exports DeepFM (samples/deepfm_on_movielens.config,
untrained) in-graph and loads the user and item feature tables into a local redis-server; this
script also writes a split export of the model (tables of >= --min_rows rows in the store, as
float32) and starts a second service on it. Both answer the same :recommend request {user_id,
item_ids} through their 1 × N signature score_user_items (the split export's pair looks the
user's ids up once), closed loop at concurrency 1, after a warm-up that fills both item caches
and the split service's hot-id cache. `cpu_ms`: the service process's CPU per request.

Keys: `in_graph` and `split_cache_warm`, each {p50_ms, p99_ms, rps, errors}; `goals`:
`split_p99_over_in_graph_p99_c1` (issue 16's goal: <= 1.5).

Usage: python scripts/bench/split_serve_bench.py [--items 200] [--requests 1000]
       [--min_rows 1000] [--work_dir /tmp/easy_rec_split_serve_bench]
"""
from __future__ import annotations

import argparse
import json
import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path[:0] = [HERE, os.path.join(HERE, "..", "..", "tests")]  # serve_bench; the test servers

from redis_server import RedisServer  # noqa: E402
from serve_bench import REPO, Cell, Setup, closed_loop, http_call, process_cpu  # noqa: E402
from serve_process import ServeProcess  # noqa: E402

SAMPLE = "deepfm"
CACHE_BYTES = 64 << 20


def split_export(setup: Setup, redis_url: str, min_rows: int) -> str:
    """Writes a split export of the setup's model into <root>/split_versions; the folder."""
    from easy_rec.export.exporter import export_saved_model
    from easy_rec.export.split import StoreRelease
    from easy_rec.models.builder import build_model

    config = setup.config.__deepcopy__()
    store = config.export_config.embedding_store
    store.redis_url, store.model_name, store.min_rows_to_store = redis_url, "split_serve_bench", \
        min_rows
    model = build_model(config, base_dir=os.path.join(REPO, "samples"))
    versions = os.path.join(setup.root, "split_versions")
    export_saved_model(model, config, versions, 1, release=StoreRelease())
    return versions


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--requests", type=int, default=1000)
    parser.add_argument("--min_rows", type=int, default=1000,
                        help="tables of at least this many rows go to the embedding store")
    parser.add_argument("--work_dir", default="/tmp/easy_rec_split_serve_bench")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    redis = RedisServer(os.path.join(args.work_dir, "redis"))
    redis.start()
    result: dict = {"items": args.items, "requests": args.requests, "concurrency": 1,
                    "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1)}
    servers = {}
    try:
        setup = Setup(SAMPLE, args.work_dir, args.items, redis.url)
        split_versions = split_export(setup, redis.url, args.min_rows)
        servers["in_graph"] = setup.server(redis.url, cache=True)
        servers["split_cache_warm"] = ServeProcess(
            ["--saved_model_dir", split_versions, "--redis_url", redis.url,
             "--namespace", setup.namespace, "--item_key", "movie_id",
             "--max_items", str(max(args.items, 1000)), "--item_cache_size", "100000",
             "--embedding_redis_url", redis.url, "--embedding_cache_bytes", str(CACHE_BYTES)],
            os.path.join(setup.root, "serve_split.log"))
        for server in servers.values():  # both load TensorFlow at the same time
            server.start(timeout=600, route="/healthz")
        for server in servers.values():
            server.wait("/readyz", timeout=600)
        body = {"user_id": setup.user_id, "item_ids": setup.item_ids}
        for kind, server in servers.items():
            call = http_call(server.base_url, "/v1/models/model:recommend", body)
            clock = process_cpu(server.process.pid)
            closed_loop(call, 20, 1, Cell(), clock)  # warm-up: item and hot-id caches filled
            cell = Cell()
            closed_loop(call, args.requests, 1, cell, clock)
            result[kind] = cell.summary()
    finally:
        for server in servers.values():
            server.stop()
        redis.stop()
    result["goals"] = {"split_p99_over_in_graph_p99_c1": round(
        result["split_cache_warm"]["p99_ms"] / result["in_graph"]["p99_ms"], 2)}
    result["load_avg_1m_end"] = round(os.getloadavg()[0], 1)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
