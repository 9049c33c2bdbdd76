"""Embedding store benchmark (docs/embedding_store.md): lookups, memory, pushes, float16 AUC.

On a local redis-server (tests/redis_server.py) unless --redis_url is given:

- lookups: one table of --rows rows x 16 (default 10M) written as a store version; requests
  of 200 ids drawn Zipf (s = 1.1) over the rows; rows/s and p99 latency of a request for the
  table in-graph (tf.gather on a variable), Redis without cache (one pipelined HMGET round
  trip) and Redis with a hot-id cache holding 1 % of the rows (its hit rate);
- memory: resident memory (after loading) of a bare TensorFlow process, of one that loaded the whole table as a
  SavedModel, and of one that loaded the split SavedModel (no table) and filled its cache;
- pushes: at 20,000 trained examples/s with 26 ids each (Zipf), the rows touched in one second
  pushed as one delta: rows/s and the delay from the step to the rows being in Redis (push
  interval 1 s + the push's own time);
- float16 (--skip_auc to leave out): DeepFM trained on the MovieLens sample and on the Criteo
  sample (../shared/data/criteo-sample; hash buckets 20k), split-exported with float32 and float16 rows, test AUC
  of both through SplitModelRunner.

Prints one JSON line. Usage: python scripts/bench/embedding_store_bench.py [--rows N]
[--requests 2000] [--redis_url U] [--skip_auc]
"""
from __future__ import annotations

import argparse
import importlib.util
import json
import logging
import os
import resource
import subprocess
import sys
import tempfile
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, REPO)
sys.path.insert(0, os.path.join(REPO, "tests"))  # the redis-server launcher lives with the tests
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

from easy_rec.store.embedding_store import EmbeddingStore  # noqa: E402
from easy_rec.store.hot_cache import ENTRY_OVERHEAD, HotRowCache  # noqa: E402
from easy_rec.store.redis_client import connect  # noqa: E402

DIM = 16
REQUEST_IDS = 200
ZIPF_S = 1.1
CRITEO = os.path.join(REPO, "..", "shared", "data", "criteo-sample")
CRITEO_BUCKETS = 20_000

RSS_SCRIPT = r"""
import sys, numpy as np, tensorflow as tf
mode, path = sys.argv[1], sys.argv[2]
if mode != "bare":
    fn = tf.saved_model.load(path).signatures["serving_default"]
    fn(ids=tf.constant(np.arange(200), tf.int64))
if mode == "split":
    sys.path.insert(0, sys.argv[3])
    from easy_rec.store.hot_cache import HotRowCache
    cache = HotRowCache(int(sys.argv[4]), min_count=1)
    rows = int(sys.argv[4]) // (4 * 16 + 160)  # as many rows as the bound holds
    cache.offer("t", np.arange(rows), np.ones([rows, 16], np.float32))
import gc; gc.collect()
with open("/proc/self/statm") as f:
    print(int(f.read().split()[1]) * 4096)
"""


class ZipfIds:
    """Ids in [0, rows) with Zipf(s) frequencies (rank r has weight r^-s); ranks are mapped to
    ids by one fixed random permutation, so hot ids are spread over the table."""

    def __init__(self, rng: np.random.Generator, rows: int):
        weights = np.arange(1, rows + 1, dtype=np.float64) ** -ZIPF_S
        self._cdf = np.cumsum(weights / weights.sum())
        self._ids = rng.permutation(rows).astype(np.int64)
        self._rng = rng

    def draw(self, count: int) -> np.ndarray:
        ranks = np.searchsorted(self._cdf, self._rng.random(count))
        return self._ids[np.minimum(ranks, len(self._ids) - 1)]


def percentile_ms(seconds: list[float], q: float) -> float:
    return round(float(np.percentile(np.array(seconds) * 1e3, q)), 3)


def cache_bound(rows: int) -> int:
    """Cache bytes that hold 1 % of the table's rows."""
    return rows // 100 * (DIM * 4 + ENTRY_OVERHEAD)


def timed_requests(requests: list[np.ndarray], call) -> dict:
    """p50 / p99 latency and rows/s of calling `call(ids)` on each request."""
    times = []
    for ids in requests:
        start = time.perf_counter()
        call(ids)
        times.append(time.perf_counter() - start)
    return {"p50_ms": percentile_ms(times, 50), "p99_ms": percentile_ms(times, 99),
            "rows_per_sec": round(len(requests) * REQUEST_IDS / sum(times), 1)}


def lookups(store: EmbeddingStore, table: np.ndarray, requests: list[np.ndarray]) -> dict:
    import tensorflow as tf

    variable = tf.Variable(table)
    gather = tf.function(lambda ids: tf.gather(variable, ids))
    in_graph = timed_requests(requests, lambda ids: gather(tf.constant(ids)).numpy())
    info = store.version_info(store.current_version())
    no_cache = timed_requests(requests, lambda ids: store.read_rows(info, {"t": ids}))
    cache = HotRowCache(cache_bound(len(table)))

    def cached(ids: np.ndarray) -> None:
        rows, missed = cache.get("t", ids, DIM)
        if missed.any():
            fetched, _ = store.read_rows(info, {"t": ids[missed]})
            cache.offer("t", ids[missed], fetched["t"])

    with_cache = timed_requests(requests, cached)
    with_cache["hit_rate"] = round(cache.hit_rate, 4)
    no_cache["hit_rate"] = in_graph["hit_rate"] = None
    return {"in_graph": in_graph, "redis_no_cache": no_cache, "redis_cache": with_cache,
            "cache_bytes": cache.max_bytes}


def memory(table: np.ndarray, work_dir: str) -> dict:
    """RSS (bytes) of a bare TF process and of processes serving the whole / split table."""
    import tensorflow as tf

    whole = tf.Module()
    whole.table = tf.Variable(table)
    whole.serve = tf.function(lambda ids: {"rows": tf.gather(whole.table, ids)},
                              input_signature=[tf.TensorSpec([None], tf.int64, name="ids")])
    split = tf.Module()
    split.serve = tf.function(lambda ids: {"ids": ids * 2},
                              input_signature=[tf.TensorSpec([None], tf.int64, name="ids")])
    out = {}
    for name, module in (("whole", whole), ("split", split)):
        path = os.path.join(work_dir, name)
        tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    cache_bytes = cache_bound(len(table))
    for mode in ("bare", "whole", "split"):
        result = subprocess.run([sys.executable, "-c", RSS_SCRIPT, mode,
                                 os.path.join(work_dir, mode), REPO, str(cache_bytes)],
                                capture_output=True, text=True, check=True)
        out[f"rss_{mode}_bytes"] = int(result.stdout.strip().splitlines()[-1])
    out["table_bytes"] = int(table.nbytes)
    out["split_over_bare_bytes"] = out["rss_split_bytes"] - out["rss_bare_bytes"]
    out["split_over_bare_share_of_table"] = round(out["split_over_bare_bytes"] / table.nbytes, 4)
    return out


def pushes(store: EmbeddingStore, zipf: ZipfIds, rng: np.random.Generator) -> dict:
    """One second of a 20k examples/s job (26 ids each) pushed as one delta."""
    info = store.version_info(store.current_version())
    touched = np.unique(zipf.draw(20_000 * 26))
    values = rng.normal(size=[len(touched), DIM]).astype(np.float32)
    start = time.perf_counter()
    store.push(info, {"t": (touched, values)}, threads=4, batch_size=1024)
    seconds = time.perf_counter() - start
    return {"touched_rows_per_sec_of_training": int(len(touched)),
            "push_rows_per_sec": round(len(touched) / seconds, 1),
            "push_seconds": round(seconds, 3), "push_delay_s_at_1s_interval": round(1 + seconds, 3)}


def float16_auc(url: str, work_dir: str) -> dict:
    """Test AUC through float32 and float16 rows, on MovieLens and the Criteo sample."""
    return {"movielens": auc_pair(url, work_dir, "movielens", movielens_config(work_dir)),
            "criteo": auc_pair(url, work_dir, "criteo", criteo_config(work_dir))}


def movielens_config(work_dir: str):
    from easy_rec.pipeline import load_pipeline_config

    data = os.path.join(REPO, "samples", "data")
    return load_pipeline_config(os.path.join(REPO, "samples", "deepfm_on_movielens.config"), {
        "model_dir": os.path.join(work_dir, "ml_model"),
        "train_input_path": os.path.join(data, "movielens_train.csv"),
        "eval_input_path": os.path.join(data, "movielens_test.csv"),
        "data_config.num_epochs": 1, "export_config.exporter_type": "none"}).config


def criteo_config(work_dir: str):
    spec = importlib.util.spec_from_file_location(
        "input_bench", os.path.join(REPO, "scripts", "bench", "input_bench.py"))
    module = importlib.util.module_from_spec(spec)
    sys.modules["input_bench"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    config = module.criteo_config(os.path.join(CRITEO, "train.txt"))
    config.model_dir = os.path.join(work_dir, "criteo_model")
    config.eval_input_path = os.path.join(CRITEO, "test.txt")
    config.data_config.batch_size = 256
    config.data_config.num_epochs = 3
    config.train_config.num_steps = 0
    for feature in config.feature_config.features:  # 52 tables of 20k rows: quick to export
        if feature.hash_bucket_size:
            feature.hash_bucket_size = CRITEO_BUCKETS
    return config


def auc_pair(url: str, work_dir: str, name: str, config) -> dict:
    import pandas as pd

    from easy_rec.export.exporter import export_saved_model
    from easy_rec.export.split import StoreRelease
    from easy_rec.metrics.classification import roc_auc
    from easy_rec.predict import build_parser
    from easy_rec.serving.batch_predict import batch_predict
    from easy_rec.serving.options import options_from_arguments
    from easy_rec.training.trainer import Trainer

    store = config.export_config.embedding_store
    store.redis_url, store.model_name, store.min_rows_to_store = url, f"auc_{name}", 1000
    store.batch_size, store.threads = 2048, 4
    trainer = Trainer(config, base_dir=os.path.join(REPO, "samples"))
    trainer.train()
    label = config.data_config.label_fields[0]
    result = {}
    for dtype in ("FLOAT32", "FLOAT16"):
        store.dtype = store.RowType.Value(dtype)
        export = export_saved_model(trainer.model, config, os.path.join(work_dir, name, dtype),
                                    int(trainer.global_step), release=StoreRelease())
        output = os.path.join(work_dir, f"{name}_{dtype}.csv")
        args = build_parser().parse_args([
            "--saved_model_dir", export, "--input_path", config.eval_input_path,
            "--output_path", output, "--reserved_cols", label, "--output_cols", "probs",
            "--redis_url", url])
        options = options_from_arguments(args, reserved_cols=[label], output_cols=["probs"],
                                         redis_url=url)
        batch_predict(options)
        table = pd.read_csv(output, sep=options.separator)
        result[f"auc_{dtype.lower()}"] = round(float(roc_auc(table[label].to_numpy(),
                                                             table["probs"].to_numpy())), 6)
    result["auc_change"] = round(result["auc_float16"] - result["auc_float32"], 6)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--rows", type=int, default=10_000_000)
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--redis_url", default=None)
    parser.add_argument("--skip_auc", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    server = None
    if args.redis_url is None:
        from redis_server import RedisServer

        server = RedisServer(tempfile.mkdtemp(prefix="embedding_store_bench_redis_"))
        server.start()
    url = args.redis_url or server.url
    try:
        rng = np.random.default_rng(0)
        table = rng.normal(scale=0.01, size=[args.rows, DIM]).astype(np.float32)
        store = EmbeddingStore(connect(url, timeout_secs=600), "bench")
        start = time.perf_counter()
        store.write_version(store.new_version_name(), {"t": table}, "float32", 64,
                            threads=4, batch_size=1024)
        write_seconds = time.perf_counter() - start
        zipf = ZipfIds(rng, args.rows)
        requests = [zipf.draw(REQUEST_IDS) for _ in range(args.requests)]
        with tempfile.TemporaryDirectory() as work_dir:
            result = {"rows": args.rows, "dim": DIM, "requests": args.requests,
                      "ids_per_request": REQUEST_IDS, "zipf_s": ZIPF_S,
                      "version_write_rows_per_sec": round(args.rows / write_seconds, 1),
                      **lookups(store, table, requests), **memory(table, work_dir),
                      **pushes(store, zipf, rng)}
            if not args.skip_auc:
                result["float16"] = float16_auc(url, work_dir)
        result["bench_rss_bytes"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
        print(json.dumps(result, sort_keys=True))
    finally:
        if server is not None:
            server.stop()


if __name__ == "__main__":
    main()
