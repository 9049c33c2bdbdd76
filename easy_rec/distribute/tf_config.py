"""The cluster and this process's role, read from TF_CONFIG as EasyRec reads it.

TF_CONFIG is JSON: ``{"cluster": {"chief": [...], "worker": [...], "ps": [...],
"evaluator": [...]}, "task": {"type": "worker", "index": 0}}``. As in EasyRec
(``estimator_utils.parse_tf_config`` and friends):

- no TF_CONFIG: a single process, the master (chief) of a one-task cluster;
- ``chief`` and ``master`` both name the one task that checkpoints and exports (EasyRec
  renames one to the other depending on where evaluation runs); ``is_chief`` is true for
  either;
- the training tasks are the chief (or master) followed by the workers: the chief is number
  0 and worker ``i`` is number ``i + 1`` of ``num_trainers`` (``get_task_index_and_num``);
  an evaluator is outside that count;
- ``ps`` tasks in the cluster mean parameter-server training (``has_ps``), whatever
  train_distribute says (EasyRec's NoStrategy with ps tasks trains with parameter servers).
"""
from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass, field

CHIEF_TYPES = ("chief", "master")
TASK_TYPES = ("chief", "master", "worker", "ps", "evaluator")


class TFConfigError(ValueError):
    """TF_CONFIG is malformed or names a task the cluster does not have."""


@dataclass(frozen=True)
class ClusterInfo:
    """The cluster (job name -> addresses) and this task's place in it."""

    cluster: dict[str, list[str]] = field(default_factory=dict)
    task_type: str = "master"
    task_index: int = 0

    @property
    def is_distributed(self) -> bool:
        """True when TF_CONFIG describes more than this one task."""
        return sum(len(v) for v in self.cluster.values()) > 1

    @property
    def is_chief(self) -> bool:
        """The chief (or master): it checkpoints, evaluates (without an evaluator) and exports."""
        return self.task_type in CHIEF_TYPES

    @property
    def is_evaluator(self) -> bool:
        return self.task_type == "evaluator"

    @property
    def has_ps(self) -> bool:
        """ps tasks in the cluster: parameter-server training."""
        return bool(self.cluster.get("ps"))

    @property
    def has_evaluator(self) -> bool:
        return bool(self.cluster.get("evaluator"))

    @property
    def chief_type(self) -> str | None:
        """The job name the cluster gives its chief ("chief" or "master"), None without one."""
        return next((t for t in CHIEF_TYPES if self.cluster.get(t)), None)

    @property
    def num_workers(self) -> int:
        """Tasks of type worker (without the chief)."""
        return len(self.cluster.get("worker", []))

    @property
    def num_trainers(self) -> int:
        """Chief (or master) plus workers: EasyRec's task_num."""
        return self.num_workers + (1 if self.chief_type else 0) or 1

    @property
    def trainer_index(self) -> int:
        """EasyRec's task_index among the trainers: chief 0, worker i -> i + 1 (i without a
        chief); 0 for ps and evaluator tasks."""
        if self.task_type == "worker":
            return self.task_index + (1 if self.chief_type else 0)
        return 0

    def tf_cluster(self) -> dict[str, list[str]]:
        """The cluster for TensorFlow, which knows the chief only as "chief"."""
        return {("chief" if job == "master" else job): list(addresses)
                for job, addresses in self.cluster.items() if addresses}

    @property
    def tf_task_type(self) -> str:
        return "chief" if self.task_type == "master" else self.task_type

    def describe(self) -> str:
        """One line for logs: role and cluster size."""
        sizes = ", ".join(f"{len(v)} {k}" for k, v in sorted(self.cluster.items()))
        return f"{self.task_type}:{self.task_index} of a cluster of {sizes or 'one task'}"


def read_tf_config(environ: Mapping[str, str] | None = None) -> ClusterInfo:
    """The ClusterInfo of TF_CONFIG in `environ` (default os.environ); a single master without it.

    Raises TFConfigError for malformed JSON, an unknown task type, or a task index outside
    its job.
    """
    raw = (os.environ if environ is None else environ).get("TF_CONFIG", "")
    if not raw.strip():
        return ClusterInfo()
    try:
        parsed = json.loads(raw)
    except json.JSONDecodeError as error:
        raise TFConfigError(f"TF_CONFIG is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise TFConfigError("TF_CONFIG must be a JSON object with 'cluster' and 'task'")
    cluster = parsed.get("cluster") or {}
    task = parsed.get("task") or {}
    if not isinstance(cluster, dict) or not all(isinstance(v, list) for v in cluster.values()):
        raise TFConfigError("TF_CONFIG cluster must map job names to lists of host:port")
    unknown = sorted(set(cluster) - set(TASK_TYPES))
    if unknown:
        raise TFConfigError(f"TF_CONFIG cluster has unknown jobs {unknown}; known: "
                            f"{', '.join(TASK_TYPES)}")
    if sum(1 for t in CHIEF_TYPES if cluster.get(t)) > 1 or any(
            len(cluster.get(t, [])) > 1 for t in CHIEF_TYPES):
        raise TFConfigError("TF_CONFIG cluster may have one chief (or master) task only")
    if not cluster and not task:
        return ClusterInfo()
    task_type = task.get("type", "master")
    task_index = task.get("index", 0)
    if task_type not in TASK_TYPES:
        raise TFConfigError(f"TF_CONFIG task type {task_type!r} is not one of "
                            f"{', '.join(TASK_TYPES)}")
    if not isinstance(task_index, int) or task_index < 0:
        raise TFConfigError(f"TF_CONFIG task index must be an integer >= 0, got {task_index!r}")
    outside = task_type == "evaluator" and not cluster.get("evaluator")
    if outside and task_index != 0:
        raise TFConfigError(f"TF_CONFIG task evaluator:{task_index}: there is one evaluator, "
                            "index 0")
    if cluster and not outside and task_index >= len(cluster.get(task_type, [])):
        raise TFConfigError(f"TF_CONFIG task {task_type}:{task_index} is not in the cluster "
                            f"({len(cluster.get(task_type, []))} {task_type} tasks)")
    return ClusterInfo({k: list(v) for k, v in cluster.items()}, task_type, task_index)
