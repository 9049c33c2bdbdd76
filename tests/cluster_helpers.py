"""Starts the tasks of a TF_CONFIG cluster as `python -m easy_rec.train` subprocesses on free
loopback ports; every process is stopped by its PID."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass, field

from conftest import REPO

#: the features of the small model most cluster tests train (MovieLens columns)
SMALL_FEATURES = ("user_id", "movie_id", "genres")


def small_model(config):
    """`config` (a DeepFM on MovieLens columns) cut to SMALL_FEATURES and one hidden layer of
    16, in place: every task start traces the train step, in a fraction of the full model's
    time. Returns the config."""
    keep = [f for f in config.feature_config.features if f.input_names[0] in SMALL_FEATURES]
    del config.feature_config.features[:]
    config.feature_config.features.extend(keep)
    for names in [g.feature_names for g in config.model_config.feature_groups] + [
            config.export_config.user_features]:
        kept = [name for name in names if name in SMALL_FEATURES]
        del names[:]
        names.extend(kept)
    del config.model_config.deepfm.dnn.hidden_units[:]
    config.model_config.deepfm.dnn.hidden_units.append(16)
    return config


def small_model_args(config_path: str, edits: dict, path: str) -> list[str]:
    """Train arguments of the pipeline at `config_path` with `edits` and the small model,
    written to `path`."""
    from google.protobuf import text_format

    from easy_rec.pipeline import load_pipeline_config

    config = small_model(load_pipeline_config(config_path, edits).config)
    with open(path, "w", encoding="utf-8") as f:
        f.write(text_format.MessageToString(config))
    return ["--pipeline_config", path]


def free_ports(count: int) -> list[int]:
    """`count` distinct free TCP ports on 127.0.0.1 (held open together while picking)."""
    sockets = []
    for _ in range(count):
        s = socket.socket()
        s.bind(("127.0.0.1", 0))
        sockets.append(s)
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def make_cluster(**sizes: int) -> dict[str, list[str]]:
    """{"chief": [...], "worker": [...], ...} with sizes[job] loopback addresses per job."""
    ports = iter(free_ports(sum(sizes.values())))
    return {job: [f"127.0.0.1:{next(ports)}" for _ in range(n)] for job, n in sizes.items() if n}


@dataclass
class Cluster:
    """The task processes of one job: (type, index) -> Popen, with their log files."""

    cluster: dict[str, list[str]]
    log_dir: str
    procs: dict[tuple[str, int], subprocess.Popen] = field(default_factory=dict)

    def start(self, task_type: str, index: int, args: list[str]) -> subprocess.Popen:
        """Starts task (type, index) running `python -m easy_rec.train <args>`."""
        env = dict(os.environ, TF_CONFIG=json.dumps(
            {"cluster": self.cluster, "task": {"type": task_type, "index": index}}),
            PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
        log = open(os.path.join(self.log_dir, f"{task_type}-{index}.log"), "w")  # noqa: SIM115
        proc = subprocess.Popen([sys.executable, "-m", "easy_rec.train", *args], env=env,
                                stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        log.close()
        self.procs[(task_type, index)] = proc
        return proc

    def start_all(self, args: list[str]) -> None:
        """Starts every task of the cluster, servers first."""
        for job in ("ps", "worker", "evaluator", "chief", "master"):
            for index in range(len(self.cluster.get(job, []))):
                self.start(job, index, args)

    def wait(self, task_type: str, index: int, timeout: float) -> int:
        """Exit status of a task; AssertionError with its log when it runs past `timeout`."""
        try:
            return self.procs[(task_type, index)].wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            raise AssertionError(f"{task_type}:{index} still running after {timeout} s\n"
                                 + self.log(task_type, index)[-4000:]) from None

    def log(self, task_type: str, index: int) -> str:
        with open(os.path.join(self.log_dir, f"{task_type}-{index}.log"), encoding="utf-8",
                  errors="replace") as f:
            return f.read()

    def summary(self, task_type: str, index: int) -> dict:
        """The JSON summary a task printed last (TensorFlow's own stderr lines may follow it:
        the log holds both streams)."""
        lines = [line for line in self.log(task_type, index).splitlines()
                 if line.startswith("{")]
        assert lines, self.log(task_type, index)[-3000:]
        return json.loads(lines[-1])

    def kill(self, task_type: str, index: int, sig: int = signal.SIGKILL) -> None:
        """Sends `sig` to one task (by PID) and reaps it."""
        proc = self.procs[(task_type, index)]
        if proc.poll() is None:
            os.kill(proc.pid, sig)
            proc.wait(timeout=30)

    def stop(self, grace: float = 10.0) -> None:
        """Terminates every task still running by PID; kills what outlives `grace` seconds."""
        for proc in self.procs.values():
            if proc.poll() is None:
                os.kill(proc.pid, signal.SIGTERM)
        deadline = time.time() + grace
        for proc in self.procs.values():
            try:
                proc.wait(timeout=max(deadline - time.time(), 0.1))
            except subprocess.TimeoutExpired:
                os.kill(proc.pid, signal.SIGKILL)
                proc.wait(timeout=30)


def wait_for_checkpoint(model_dir: str, cluster: Cluster, timeout: float) -> None:
    """Returns once model_dir holds a checkpoint (the tasks still train)."""
    import tensorflow as tf

    deadline = time.time() + timeout
    while tf.train.latest_checkpoint(model_dir) is None:
        for (task, index), proc in cluster.procs.items():
            assert proc.poll() is None, cluster.log(task, index)[-4000:]
        assert time.time() < deadline, cluster.log("chief", 0)[-4000:]
        time.sleep(0.1)


def checkpoint_step(path: str) -> int:
    """The step number of checkpoint `path` (.../ckpt-<step>)."""
    return int(path.rsplit("-", 1)[1])


def run_launch(launch_args: list[str], train_args: list[str], cwd: str,
               timeout: float) -> tuple[int, str, str]:
    """Runs `python -m easy_rec.distribute.launch <launch_args> -- <train_args>` in `cwd`
    (its output in cwd/launch.out and launch.err): (exit status, stdout, stderr). Past
    `timeout` the launcher is sent SIGTERM (it stops its tasks by PID) and TimeoutExpired
    is raised."""
    command = [sys.executable, "-m", "easy_rec.distribute.launch", *launch_args, "--",
               *train_args]
    env = dict(os.environ, PYTHONPATH=REPO, TF_CPP_MIN_LOG_LEVEL="2", CUDA_VISIBLE_DEVICES="")
    with open(f"{cwd}/launch.out", "w+") as out, open(f"{cwd}/launch.err", "w+") as err:
        launcher = subprocess.Popen(command, env=env, cwd=cwd, stdout=out, stderr=err)
        try:
            code = launcher.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.kill(launcher.pid, signal.SIGTERM)
            launcher.wait(timeout=60)
            raise
        out.seek(0)
        err.seek(0)
        return code, out.read(), err.read()
