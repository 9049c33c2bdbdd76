"""Scoring service benchmark, one user × N items; prints one JSON line.

For DeepFM and DIN (samples/*_on_movielens.config, untrained: latency does not depend on the
weights) it exports a SavedModel, loads a user table (the first test row's user) and an item
table (the first N test rows' movies) into a real Redis (tests/redis_server.py) with
`easy_rec.tools.load_features`, starts `python -m easy_rec.serve` twice on loopback (item
cache off; item cache on, warmed by the first requests) and measures, closed loop, at each
concurrency (client threads with a keep-alive http.client connection each; request bodies
encoded once up front; the kinds of request take turns in `--rounds` rounds, so that a change
in a shared machine's load meets every kind):

- `naive`: :predict with N full rows (`instances`, the user's columns repeated in each row),
  through serving_default;
- `recommend_cache_off` / `recommend_cache_warm`: :recommend {user_id, item_ids}: the service
  fetches the features and calls the 1 × N signature score_user_items;
- `in_process`: serving_default called in this process on the same N-row batch, already typed
  (the bare SavedModel call: no HTTP, no JSON, no Redis).

Each cell: p50 / p99 milliseconds, requests/s and `cpu_ms`, the CPU time per request of the
process that answers (the service; for `in_process` the benchmark's own, client threads
included), a figure other jobs on a shared machine disturb less than the latencies. Each model's `goal_*` keys are the ratios
the serving issue sets (item cache off): `goal_p99_ratio_c1`, recommend p99 / in-process p99
at concurrency 1 (goal <= 2), and `goal_rps_ratio_c4` / `goal_rps_ratio_c16`, recommend
requests/s / naive requests/s (goal >= 1.5).

Usage: python scripts/bench/serve_bench.py [--models deepfm,din] [--items 200]
       [--concurrency 1,4,16] [--requests 2000] [--rounds 4]
       [--work_dir /tmp/easy_rec_serve_bench]
"""
from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import shutil
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))
sys.path.insert(0, REPO)

from redis_server import RedisServer  # noqa: E402
from serve_process import ServeProcess  # noqa: E402

PREDICT, RECOMMEND = "/v1/models/model:predict", "/v1/models/model:recommend"
USER_COLUMNS = ["user_id", "gender", "age", "job_id", "zip_id"]
SEQUENCE_COLUMNS = ["hist_movie_ids", "hist_genres"]


@dataclass
class Cell:
    """The latencies (seconds), wall time and failed calls of one kind at one concurrency,
    gathered over rounds."""

    latencies: list[float] = field(default_factory=list)
    wall: float = 0.0
    cpu: float = 0.0
    errors: int = 0

    def summary(self) -> dict:
        """p50 / p99 ms, requests/s, CPU ms per request and the failed calls."""
        return {"p50_ms": round(float(np.percentile(self.latencies, 50)) * 1000, 2),
                "p99_ms": round(float(np.percentile(self.latencies, 99)) * 1000, 2),
                "rps": round(len(self.latencies) / self.wall, 1),
                "cpu_ms": round(self.cpu / len(self.latencies) * 1000, 2), "errors": self.errors}


def closed_loop(call: Callable[[], bool], requests: int, concurrency: int, cell: Cell,
                cpu_clock: Callable[[], float]) -> None:
    """`requests` calls spread over `concurrency` threads, each sending its next request when
    the last one answered; their latencies, wall time, CPU time (`cpu_clock`: of the process
    that answers) and failures are added to `cell`."""
    lock, remaining = threading.Lock(), [requests]

    def worker() -> None:
        while True:
            with lock:
                if remaining[0] == 0:
                    return
                remaining[0] -= 1
            start = time.perf_counter()
            ok = call()
            elapsed = time.perf_counter() - start
            with lock:
                cell.latencies.append(elapsed)
                cell.errors += not ok

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    start, cpu = time.perf_counter(), cpu_clock()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    cell.wall += time.perf_counter() - start
    cell.cpu += cpu_clock() - cpu


def process_cpu(pid: int) -> Callable[[], float]:
    """A clock of the CPU seconds (user + system, all threads) process `pid` has used."""
    ticks = os.sysconf("SC_CLK_TCK")

    def clock() -> float:
        with open(f"/proc/{pid}/stat", encoding="ascii") as f:
            fields = f.read().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / ticks

    return clock


def http_call(base_url: str, path: str, body: dict) -> Callable[[], bool]:
    """A call POSTing `body` (JSON encoded once) to `path`; True on 200. Each client thread
    keeps its own connection (http.client: a client lighter than the service, so that the
    figures are the service's)."""
    content = json.dumps(body).encode()
    address = urlsplit(base_url)
    headers = {"Content-Type": "application/json"}
    local = threading.local()

    def call() -> bool:
        if getattr(local, "connection", None) is None:
            local.connection = http.client.HTTPConnection(address.hostname, address.port,
                                                          timeout=60)
        try:
            local.connection.request("POST", path, content, headers)
            response = local.connection.getresponse()
            response.read()
            return response.status == 200
        except (OSError, http.client.HTTPException):
            local.connection.close()
            local.connection = None
            return False

    return call


class Setup:
    """One model: its export, the request rows, the feature tables loaded into Redis."""

    def __init__(self, sample: str, work_dir: str, items: int, redis_url: str):
        from easy_rec.export.exporter import export_saved_model
        from easy_rec.models.builder import build_model
        from easy_rec.pipeline import load_pipeline_config

        self.sample, self.namespace = sample, f"serve_bench_{sample}"
        self.root = os.path.join(work_dir, sample)
        shutil.rmtree(self.root, ignore_errors=True)
        os.makedirs(self.root)
        self.config = load_pipeline_config(
            os.path.join(REPO, "samples", f"{sample}_on_movielens.config")).config
        model = build_model(self.config, base_dir=os.path.join(REPO, "samples"))
        self.versions = os.path.join(self.root, "versions")
        self.export = export_saved_model(model, self.config, self.versions, 1)
        data = self.config.data_config
        fields = [f.input_name for f in data.input_fields]
        with open(os.path.join(REPO, self.config.eval_input_path), encoding="utf-8") as f:
            rows = [dict(zip(fields, line.rstrip("\n").split(data.separator)))
                    for _, line in zip(range(items), f)]
        self.user_columns = [c for c in USER_COLUMNS + SEQUENCE_COLUMNS if c in fields]
        user = {c: rows[0][c] for c in self.user_columns}
        self.rows = [{**row, **user} for row in rows]  # the user's row next to each item's
        self.user_id, self.item_ids = user["user_id"], [row["movie_id"] for row in rows]
        self.inputs = list(model.serving_input_names)
        self.load_tables(redis_url, fields)

    def load_tables(self, redis_url: str, fields: list[str]) -> None:
        """The user and item tables through load_features (the export's config types them)."""
        from easy_rec.tools import load_features
        from easy_rec.utils.pipeline_files import saved_model_config_path

        items = {row["movie_id"]: row for row in self.rows}.values()
        item_columns = [c for c in fields if c not in self.user_columns]
        for table, key, columns, rows in [("user", "user_id", self.user_columns, self.rows[:1]),
                                          ("item", "movie_id", item_columns, items)]:
            path = os.path.join(self.root, f"{table}.csv")
            with open(path, "w", encoding="utf-8") as f:
                f.writelines("\t".join(r[c] for c in columns) + "\n"
                             for r in [dict(zip(columns, columns)), *rows])
            with contextlib.redirect_stdout(sys.stderr):  # stdout: the bench's line only
                status = load_features.main(
                    ["--redis_url", redis_url, "--table", table, "--key_field", key,
                     "--input_path", path, "--with_header", "--no_progress",
                     "--pipeline_config", saved_model_config_path(self.export),
                     "--namespace", self.namespace])
            if status != 0:
                raise RuntimeError(f"loading the {table} table failed")

    def server(self, redis_url: str, cache: bool) -> ServeProcess:
        """The service over the export (not started); the item cache on or off."""
        return ServeProcess(
            ["--saved_model_dir", self.versions, "--redis_url", redis_url,
             "--namespace", self.namespace, "--item_key", "movie_id",
             "--max_items", str(max(len(self.rows), 1000)),
             "--item_cache_size", "100000" if cache else "0"],
            os.path.join(self.root, f"serve_cache_{'on' if cache else 'off'}.log"))

    def in_process_call(self) -> Callable[[], bool]:
        """serving_default of the export on the typed N-row batch, in this process."""
        import tensorflow as tf

        fn = tf.saved_model.load(self.export).signatures["serving_default"]
        specs = fn.structured_input_signature[1]
        batch = {name: tf.constant([row[name].encode() if spec.dtype == tf.string
                                    else spec.dtype.as_numpy_dtype(row[name] or 0)
                                    for row in self.rows], spec.dtype)
                 for name, spec in specs.items()}

        def call() -> bool:
            next(iter(fn(**batch).values())).numpy()
            return True

        return call


def bench_model(setup: Setup, redis_url: str, concurrency: list[int], requests: int,
                rounds: int) -> dict:
    """The cells of one model: {kind: {concurrency: cell}} and the goal ratios."""
    servers = {cache: setup.server(redis_url, cache) for cache in (False, True)}
    try:
        for server in servers.values():  # both load TensorFlow at the same time
            server.start(route="/healthz")
        for server in servers.values():
            server.wait("/readyz")
        naive = {"instances": [{n: row[n] for n in setup.inputs} for row in setup.rows]}
        recommend = {"user_id": setup.user_id, "item_ids": setup.item_ids}
        result: dict = {}
        in_process = setup.in_process_call()
        clocks = {"naive": process_cpu(servers[False].process.pid),
                  "recommend_cache_off": process_cpu(servers[False].process.pid),
                  "recommend_cache_warm": process_cpu(servers[True].process.pid),
                  "in_process": time.process_time}
        for c in concurrency:
            calls = {
                "naive": http_call(servers[False].base_url, PREDICT, naive),
                "recommend_cache_off": http_call(servers[False].base_url, RECOMMEND, recommend),
                "recommend_cache_warm": http_call(servers[True].base_url, RECOMMEND, recommend),
                "in_process": in_process,
            }
            cells = {kind: Cell() for kind in calls}
            for kind, call in calls.items():  # warm-up (fills the item cache)
                closed_loop(call, max(2 * c, 10), c, Cell(), clocks[kind])
            # the kinds take turns, so that a change in the machine's load meets them all
            for turn in range(rounds):
                for kind, call in calls.items():
                    closed_loop(call, requests // rounds + (turn < requests % rounds), c,
                                cells[kind], clocks[kind])
            for kind, cell in cells.items():
                result.setdefault(kind, {})[str(c)] = cell.summary()
    finally:
        for server in servers.values():
            server.stop()
    # the goals (item cache off): p99 ratio <= 2 at concurrency 1, rps ratios >= 1.5
    off, bare, naive_cells = result["recommend_cache_off"], result["in_process"], result["naive"]
    if "1" in off:
        result["goal_p99_ratio_c1"] = round(off["1"]["p99_ms"] / bare["1"]["p99_ms"], 2)
    for c in ("4", "16"):
        if c in off:
            result[f"goal_rps_ratio_c{c}"] = round(off[c]["rps"] / naive_cells[c]["rps"], 2)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--models", default="deepfm,din")
    parser.add_argument("--items", type=int, default=200)
    parser.add_argument("--concurrency", default="1,4,16")
    parser.add_argument("--requests", type=int, default=2000, help="requests per cell")
    parser.add_argument("--rounds", type=int, default=4,
                        help="turns the kinds of request take at each concurrency")
    parser.add_argument("--work_dir", default="/tmp/easy_rec_serve_bench")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    concurrency = [int(c) for c in args.concurrency.split(",")]
    redis = RedisServer(os.path.join(args.work_dir, "redis"))
    redis.start()
    started = time.perf_counter()
    results: dict = {"items": args.items, "requests_per_cell": args.requests,
                     "cpus": os.cpu_count(), "load_avg_1m": round(os.getloadavg()[0], 1)}
    try:
        for sample in args.models.split(","):
            setup = Setup(sample, args.work_dir, args.items, redis.url)
            results[sample] = bench_model(setup, redis.url, concurrency, args.requests,
                                           max(args.rounds, 1))
    finally:
        redis.stop()
    results["load_avg_1m_end"] = round(os.getloadavg()[0], 1)
    results["seconds"] = round(time.perf_counter() - started)
    print(json.dumps(results))


if __name__ == "__main__":
    main()
