"""Load test of the scoring service: a steady request rate for a fixed time; one JSON line.

Starts `python -m easy_rec.serve` on a free loopback port over --saved_model_dir (an export or
a folder of versions), then sends TF Serving predict requests of --rows_per_request rows of
the MovieLens test sample (the columns the signature takes, as CSV text) at --rate requests/s
for --duration_secs, open loop: request i is due at start + i / rate, sent by one of
--concurrency client threads (requests sent late because all threads were busy are counted).
Everything is bounded: rate x duration requests at most, loopback only. Prints requests,
errors (any status but 200, or a transport error), achieved rate and p50 / p99 / max latency.

Usage: python scripts/bench/serve_load.py --saved_model_dir D [--rate 50] [--duration_secs 60]
       [--concurrency 8] [--rows_per_request 20]
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import threading
import time

import httpx
import numpy as np

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
sys.path.insert(0, os.path.join(REPO, "tests"))

from serve_process import ServeProcess  # noqa: E402

SAMPLE = os.path.join(REPO, "samples", "data", "movielens_test.csv")
COLUMNS = ["label", "user_id", "movie_id", "rating", "gender", "age", "job_id", "zip_id",
           "title", "genres", "year"]


def instances(base_url: str, count: int) -> list[dict[str, str]]:
    """`count` sample rows with the inputs of the served signature (from its metadata)."""
    metadata = httpx.get(base_url + "/v1/models/model/metadata", timeout=30).json()
    inputs = metadata["metadata"]["signature_def"]["signature_def"]["serving_default"]["inputs"]
    with open(SAMPLE, encoding="utf-8") as f:
        rows = [dict(zip(COLUMNS, next(f).rstrip("\n").split("\t"))) for _ in range(count)]
    return [{name: row[name] for name in inputs} for row in rows]


def run_load(base_url: str, body: dict, rate: float, duration: float, concurrency: int) -> dict:
    """Sends rate x duration requests on schedule; the counts and latencies."""
    total = int(rate * duration)
    latencies: list[float] = []
    errors, late = [0], [0]
    lock = threading.Lock()
    next_index = [0]
    start = time.monotonic() + 0.5

    def worker() -> None:
        with httpx.Client(base_url=base_url, timeout=30) as client:
            while True:
                with lock:
                    index = next_index[0]
                    next_index[0] += 1
                if index >= total:
                    return
                delay = start + index / rate - time.monotonic()
                if delay > 0:
                    time.sleep(delay)
                elif delay < -0.05:
                    with lock:
                        late[0] += 1
                sent = time.monotonic()
                try:
                    ok = client.post("/v1/models/model:predict", json=body).status_code == 200
                except httpx.TransportError:
                    ok = False
                elapsed = time.monotonic() - sent
                with lock:
                    latencies.append(elapsed)
                    errors[0] += not ok

    threads = [threading.Thread(target=worker) for _ in range(concurrency)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    wall = time.monotonic() - start
    millis = np.asarray(latencies) * 1000.0
    return {"requests": len(latencies), "errors": errors[0], "late": late[0],
            "target_rps": rate, "achieved_rps": round(len(latencies) / wall, 1),
            "duration_secs": round(wall, 1), "p50_ms": round(float(np.percentile(millis, 50)), 2),
            "p99_ms": round(float(np.percentile(millis, 99)), 2),
            "max_ms": round(float(millis.max()), 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--saved_model_dir", required=True)
    parser.add_argument("--rate", type=float, default=50.0, help="requests per second")
    parser.add_argument("--duration_secs", type=float, default=60.0)
    parser.add_argument("--concurrency", type=int, default=8, help="client threads")
    parser.add_argument("--rows_per_request", type=int, default=20)
    parser.add_argument("--num_threads", type=int, default=4, help="the server's threads")
    args = parser.parse_args()
    log = os.path.join(tempfile.mkdtemp(prefix="serve_load_"), "serve.log")
    server = ServeProcess(["--saved_model_dir", args.saved_model_dir,
                           "--num_threads", str(args.num_threads)], log)
    server.start()
    try:
        body = {"instances": instances(server.base_url, args.rows_per_request)}
        result = run_load(server.base_url, body, args.rate, args.duration_secs, args.concurrency)
    finally:
        server.stop()
    print(json.dumps({"endpoint": "predict", "rows_per_request": args.rows_per_request,
                      "concurrency": args.concurrency, **result}, sort_keys=True))


if __name__ == "__main__":
    main()
