"""TensorFlow's view of the cluster: its ClusterSpec, and the servers ps and worker tasks run.

In TF2 parameter-server training the ps and worker tasks run no training loop of their own:
each starts a `tf.distribute.Server` and serves until the job ends; the chief (the
coordinator) places variables on the ps tasks and sends the train step to the workers. A
server task ends when the chief writes the done marker into model_dir (a shared folder in
a real cluster), or when it is stopped (the launcher, Kubernetes).
"""
from __future__ import annotations

import logging
import os
import time

import tensorflow as tf

from easy_rec.distribute.tf_config import ClusterInfo
from easy_rec.utils.writers import is_dead_writer, writer_tag

logger = logging.getLogger(__name__)

#: written into model_dir by the chief when training is over; servers that started before it
#: was written then exit
DONE_MARKER = "TRAINING_DONE"
#: written into model_dir by a running evaluator task (removed when it ends): the chief then
#: leaves evaluations to it, also when TF_CONFIG lists no evaluator in the cluster (the
#: launcher's and EasyRec's layout)
EVALUATOR_MARKER = "EVALUATOR_RUNNING"
_POLL_SECS = 1.0


def cluster_spec(cluster: ClusterInfo, with_evaluator: bool = False) -> tf.train.ClusterSpec:
    """The ClusterSpec of TF_CONFIG's cluster (master renamed chief; no evaluator, which takes
    part in no step, unless asked)."""
    jobs = cluster.tf_cluster()
    if not with_evaluator:
        jobs.pop("evaluator", None)
    return tf.train.ClusterSpec(jobs)


def allow_worker_restarts() -> None:
    """Lets RPCs to a lost worker fail fast, so that the coordinator re-dispatches its steps
    when it comes back (TensorFlow's advice for fault-tolerant parameter-server training)."""
    os.environ.setdefault("GRPC_FAIL_FAST", "use_caller")


def serve(cluster: ClusterInfo, model_dir: str) -> int:
    """Runs this ps or worker task's server until the chief marks the job done; returns 0."""
    allow_worker_restarts()
    started = time.time()
    server = tf.distribute.Server(cluster_spec(cluster), job_name=cluster.tf_task_type,
                                  task_index=cluster.task_index, protocol="grpc", start=True)
    logger.info("%s serving at %s; ends when %s appears in %s", cluster.describe(),
                server.target, DONE_MARKER, model_dir)
    marker = os.path.join(model_dir, DONE_MARKER)
    while not (os.path.exists(marker) and os.path.getmtime(marker) >= started):
        time.sleep(_POLL_SECS)
    logger.info("the chief marked the job done: %s stops", cluster.describe())
    return 0


def mark_done(model_dir: str, done: bool) -> None:
    """Writes (done) or removes (starting) the done marker of model_dir."""
    marker = os.path.join(model_dir, DONE_MARKER)
    if done:
        with open(marker, "w", encoding="utf-8") as out:
            out.write(f"{time.time():.3f}\n")
    elif os.path.exists(marker):
        os.remove(marker)


def announce_evaluator(model_dir: str) -> str:
    """Writes the evaluator marker (this process's `<host>-<pid>`) into model_dir; its path."""
    os.makedirs(model_dir, exist_ok=True)
    marker = os.path.join(model_dir, EVALUATOR_MARKER)
    with open(marker, "w", encoding="utf-8") as out:
        out.write(writer_tag() + "\n")
    return marker


def separate_evaluator(cluster: ClusterInfo, model_dir: str) -> bool:
    """Whether an evaluator task evaluates this job's checkpoints: one in TF_CONFIG's cluster,
    or one that announced itself in model_dir and is not known to be dead (a marker left by a
    killed evaluator of this host does not count)."""
    if cluster.has_evaluator:
        return True
    try:
        with open(os.path.join(model_dir, EVALUATOR_MARKER), encoding="utf-8") as f:
            return not is_dead_writer(f.read().strip())
    except FileNotFoundError:
        return False
