"""A stand-in for easy_rec.train under the launcher (`--program launch_stub`): no TensorFlow,
behaviour chosen by flags, every start recorded.

Each start appends one JSON line {"name", "pid", "tf_config"} to <out>/starts.jsonl and prints
one line to stdout and one to stderr. The chief exits 0 once starts.jsonl has
--chief_waits_for lines; every other task waits to be stopped, like a TF server. The task named
by --crash exits with --crash_code once starts.jsonl has --crash_after_starts lines, for its
first --crash_times starts. The task named by --spawn_child starts a child process of its own
(its pid is recorded as "child_pid"). The task named by --exit_after_chief exits 0 a second after
the chief has ended, as an evaluator does after evaluating the last checkpoint. With
--chief_after, the chief exits 0 a second after that task has ended, as a trainer's process
outlives the done marker its servers stop on. Every task gives up after --give_up_s (exit 99), so a
broken launcher leaves nothing behind for long.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--out", required=True)
    parser.add_argument("--chief_waits_for", type=int, default=0)
    parser.add_argument("--crash", default="")
    parser.add_argument("--crash_code", type=int, default=3)
    parser.add_argument("--crash_after_starts", type=int, default=0)
    parser.add_argument("--crash_times", type=int, default=1)
    parser.add_argument("--spawn_child", default="")
    parser.add_argument("--exit_after_chief", default="")
    parser.add_argument("--chief_after", default="")
    parser.add_argument("--give_up_s", type=float, default=60)
    args = parser.parse_args()

    config = json.loads(os.environ["TF_CONFIG"])
    name = f"{config['task']['type']}:{config['task']['index']}"
    record = {"name": name, "pid": os.getpid(), "tf_config": config}
    if name == args.spawn_child:
        code = f"import time; time.sleep({args.give_up_s})"
        record["child_pid"] = subprocess.Popen([sys.executable, "-c", code]).pid
    starts = os.path.join(args.out, "starts.jsonl")
    with open(starts, "a", encoding="utf-8") as f:
        f.write(json.dumps(record) + "\n")
    print(f"stdout line from {name}", flush=True)
    print(f"stderr line from {name}", file=sys.stderr, flush=True)

    deadline = time.monotonic() + args.give_up_s
    crashes = os.path.join(args.out, f"crashes-{name.replace(':', '-')}")
    crashed = os.path.getsize(crashes) if os.path.exists(crashes) else 0
    if name == args.crash and crashed < args.crash_times:
        if not wait_for_starts(starts, args.crash_after_starts, deadline):
            return 99
        with open(crashes, "a", encoding="utf-8") as f:
            f.write("x")
        return args.crash_code
    if name == "chief:0" and args.chief_after:
        return 0 if wait_for_end(starts, args.chief_after, deadline) else 99
    if name == "chief:0":
        return 0 if wait_for_starts(starts, args.chief_waits_for, deadline) else 99
    if name == args.exit_after_chief:
        return 0 if wait_for_end(starts, "chief:0", deadline) else 99
    wait_for_starts(starts, sys.maxsize, deadline)
    return 99


def wait_for_starts(path: str, count: int, deadline: float) -> bool:
    """Waits until `path` has `count` lines (True) or the deadline has passed (False)."""
    while time.monotonic() < deadline:
        with open(path, encoding="utf-8") as f:
            if sum(1 for _ in f) >= count:
                return True
        time.sleep(0.05)
    return False


def wait_for_end(path: str, name: str, deadline: float) -> bool:
    """Waits until the last start of task `name` recorded in `path` has exited, then a second
    more (True), or until the deadline has passed (False)."""
    while time.monotonic() < deadline:
        with open(path, encoding="utf-8") as f:
            pids = [r["pid"] for r in map(json.loads, f) if r["name"] == name]
        if pids and not running(pids[-1]):
            time.sleep(1)   # the evaluator's last evaluation; the trainer's exit
            return True
        time.sleep(0.05)
    return False


def running(pid: int) -> bool:
    """Whether process `pid` runs (an exited one its parent has not collected yet does not)."""
    try:
        with open(f"/proc/{pid}/stat", encoding="utf-8") as f:
            return f.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


if __name__ == "__main__":
    sys.exit(main())
