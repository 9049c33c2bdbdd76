"""Benchmark of parameter-server training on this machine (one JSON line).

On a 2-core machine scaling cannot be shown; what can be measured:

- examples/s of DeepFM on MovieLens trained by 1 worker + 1 ps (and the chief) against the
  single-process trainer: the overhead of sending the step to a worker and the variables
  over gRPC;
- loopback bytes per step (the machine's `lo` counters while the job trains, so other
  loopback traffic adds noise) with the user_id table at 12k rows and at 10M rows: a step
  moves the rows of its batch, not the table;
- seconds per step with the 100k-row and the 10M-row table (1 worker + 1 ps).

Steady-state rates: the median of the trainer's logged window rates, the first window (which
traces the step) left out. Every process is started here and stopped by its PID.

Usage: ``python scripts/bench/distributed_bench.py [--steps 200] [--work_dir D]``
"""
from __future__ import annotations

import argparse
import json
import os
import re
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
CONFIG = os.path.join(REPO, "samples", "deepfm_on_movielens.config")
RATE = re.compile(r"^(\S+ \S+) INFO easy_rec.training.trainer: step (\d+): .*examples/s=(\d+)",
                  re.M)


def _loopback_bytes() -> int:
    with open("/proc/net/dev", encoding="ascii") as f:
        for line in f:
            name, _, counters = line.partition(":")
            if name.strip() == "lo":
                return int(counters.split()[0])
    return 0


class _LoopbackSampler(threading.Thread):
    """(time, lo bytes) every 0.2 s while the job runs."""

    def __init__(self) -> None:
        super().__init__(daemon=True)
        self.samples: list[tuple[float, int]] = []
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.is_set():
            self.samples.append((time.time(), _loopback_bytes()))
            time.sleep(0.2)

    def at(self, when: float) -> int:
        return min(self.samples, key=lambda s: abs(s[0] - when))[1]


def _ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def _run_job(work: str, name: str, edits: dict, cluster: dict | None) -> str:
    """Runs the job (every task of `cluster`, or one process); returns the chief's log."""
    args = [sys.executable, "-m", "easy_rec.train", "--pipeline_config", CONFIG,
            "--edit_config_json", json.dumps({**edits, "model_dir": f"{work}/{name}"})]
    tasks = [(job, i) for job in ("ps", "worker", "chief") for i in range(len((cluster or {}).get(job, [])))] \
        or [("chief", 0)]
    procs = {}
    for job, index in tasks:
        env = dict(os.environ, PYTHONPATH=REPO, CUDA_VISIBLE_DEVICES="")
        if cluster:
            env["TF_CONFIG"] = json.dumps({"cluster": cluster, "task": {"type": job, "index": index}})
        with open(f"{work}/{name}-{job}{index}.log", "w") as log:
            procs[(job, index)] = subprocess.Popen(args, env=env, stdout=log,
                                                   stderr=subprocess.STDOUT, cwd=REPO)
    try:
        procs[("chief", 0)].wait(timeout=1800)
    finally:
        for proc in procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        for proc in procs.values():
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait()
    with open(f"{work}/{name}-chief0.log", encoding="utf-8", errors="replace") as f:
        return f.read()


def _steady(log: str, sampler: _LoopbackSampler | None = None) -> dict:
    """Median window examples/s (first window left out) and loopback bytes per step."""
    points = [(time.mktime(time.strptime(t.split(",")[0], "%Y-%m-%d %H:%M:%S")), int(s), int(r))
              for t, s, r in RATE.findall(log)]
    if len(points) < 3:
        raise RuntimeError("too few logged steps:\n" + log[-3000:])
    result = {"examples_per_sec": statistics.median(r for _, _, r in points[1:])}
    if sampler is not None:
        (t0, s0, _), (t1, s1, _) = points[1], points[-1]
        result["loopback_bytes_per_step"] = (sampler.at(t1) - sampler.at(t0)) / max(s1 - s0, 1)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=200)
    parser.add_argument("--work_dir", default=None)
    args = parser.parse_args()
    work = args.work_dir or tempfile.mkdtemp(prefix="easy_rec_dist_bench_")
    batch = 1024
    edits = {"train_input_path": os.path.join(REPO, "samples/data/movielens_train.csv"),
             "eval_input_path": os.path.join(REPO, "samples/data/movielens_test.csv"),
             "data_config.batch_size": batch, "data_config.num_epochs": 0,
             "train_config.num_steps": args.steps, "train_config.log_step_count_steps": 10,
             "train_config.save_checkpoints_steps": 100000, "eval_config.num_examples": 1024}
    result: dict = {"bench": "distributed", "batch_size": batch, "steps": args.steps}
    result["single_process"] = _steady(_run_job(work, "single", edits, None))
    for label, rows in (("ps_12k_rows", 12000), ("ps_100k_rows", 100_000),
                        ("ps_10m_rows", 10_000_000)):
        ports = _ports(3)
        cluster = {"chief": [f"127.0.0.1:{ports[0]}"], "worker": [f"127.0.0.1:{ports[1]}"],
                   "ps": [f"127.0.0.1:{ports[2]}"]}
        sampler = _LoopbackSampler()
        sampler.start()
        log = _run_job(work, label, {**edits, "feature_config.features[0].hash_bucket_size":
                                     rows}, cluster)
        sampler.stopped.set()
        stats = _steady(log, sampler)
        stats["user_id_table_bytes"] = rows * 16 * 4
        stats["seconds_per_step"] = batch / stats["examples_per_sec"]
        result[label] = stats
    result["ps_overhead"] = (result["ps_12k_rows"]["examples_per_sec"]
                             / result["single_process"]["examples_per_sec"])
    print(json.dumps(result, sort_keys=True))


if __name__ == "__main__":
    main()
