"""The TF_CONFIG values of a cluster started on one machine, in EasyRec's layout.

A cluster is one chief (task index 0), `num_workers` workers and `num_ps` parameter servers,
each on its own free port of 127.0.0.1. Every task of the cluster gets the same ``cluster``
dict and its own ``task``. An evaluator, if any, is not part of the cluster dict (as in EasyRec,
whose evaluator only reads checkpoints); it gets the same ``cluster`` with task type
``evaluator``. TensorFlow (2.x) names the first task ``chief``; EasyRec's older ``master``
means the same task, and this module always writes ``chief``.
"""
from __future__ import annotations

import json
import socket
from contextlib import ExitStack
from dataclasses import dataclass

LOOPBACK = "127.0.0.1"
# Task types in the order their tasks are listed and started.
CLUSTER_TYPES = ("chief", "worker", "ps")
EVALUATOR = "evaluator"


@dataclass(frozen=True)
class Task:
    """One task of a TF_CONFIG: its type ("chief", "worker", "ps", "evaluator") and index."""

    type: str
    index: int

    @property
    def name(self) -> str:
        """How logs and summaries name the task, e.g. ``worker:1``."""
        return f"{self.type}:{self.index}"


def free_ports(count: int, host: str = LOOPBACK) -> list[int]:
    """`count` distinct ports that were free on `host` a moment ago (all sockets are bound at
    once, then closed; another program may still take one before the cluster binds it)."""
    with ExitStack() as stack:
        ports = []
        for _ in range(count):
            sock = stack.enter_context(socket.socket(socket.AF_INET, socket.SOCK_STREAM))
            sock.bind((host, 0))
            ports.append(sock.getsockname()[1])
        return ports


def local_cluster(num_workers: int, num_ps: int, host: str = LOOPBACK) -> dict[str, list[str]]:
    """The ``cluster`` dict of a chief, `num_workers` workers and `num_ps` ps on free ports of
    `host` (a task type with no task is left out)."""
    counts = {"chief": 1, "worker": num_workers, "ps": num_ps}
    ports = iter(free_ports(sum(counts.values()), host))
    return {kind: [f"{host}:{next(ports)}" for _ in range(count)]
            for kind, count in counts.items() if count}


def cluster_tasks(cluster: dict[str, list[str]], evaluator: bool = False) -> list[Task]:
    """Every task to start for `cluster` (chief first, then workers, then ps), plus the
    evaluator when `evaluator`."""
    tasks = [Task(kind, index) for kind in CLUSTER_TYPES
             for index in range(len(cluster.get(kind, ())))]
    return tasks + ([Task(EVALUATOR, 0)] if evaluator else [])


def tf_config(cluster: dict[str, list[str]], task: Task) -> str:
    """The TF_CONFIG value (JSON) of `task` in `cluster`."""
    return json.dumps({"cluster": cluster, "task": {"type": task.type, "index": task.index}})
