"""Runs the tasks of a local cluster as child processes and keeps the job going.

What happens when a task ends (the launcher's documented policy):

- the chief exits 0: the job succeeded. Workers and ps are stopped at once; an evaluator gets
  `evaluator_timeout_s` to finish its last evaluation and exit by itself, then it is stopped.
- the chief exits non-zero, or a ps exits non-zero or is killed: the cluster is lost. Every
  task is stopped and the whole cluster is started again with the same TF_CONFIG values (the
  trainer resumes from the last checkpoint in model_dir). This takes one restart.
- a worker or the evaluator exits non-zero: that task alone is started again with the same
  TF_CONFIG (same address, so the chief finds it again) after `restart_delay_s`. One restart.
  A worker, ps or evaluator that exits 0 is done and is not restarted (a ps or worker server
  exits 0 once the chief has marked the job done, while the chief's process is still ending).
- restarts are counted for the whole job: at most `max_restarts` in all. When one more is
  needed, every task is stopped and the job fails.

Each task runs in its own process group (session), which the supervisor signals by the
task's PID: SIGTERM first, SIGKILL after `stop_timeout_s`, so helper processes a task may
have started go with it. On Linux each task also gets SIGKILL if the launcher itself dies,
even by SIGKILL (PR_SET_PDEATHSIG), so no task outlives it.
"""
from __future__ import annotations

import ctypes
import logging
import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from easy_rec.distribute.cluster_spec import Task, tf_config
from easy_rec.distribute.prefixed_output import start_copying, write_line

logger = logging.getLogger("easy_rec.distribute")

POLL_S = 0.05
_PR_SET_PDEATHSIG = 1


def _die_with_parent() -> Callable[[], None] | None:
    """A `preexec_fn` (Linux only) that has the child killed when this process dies."""
    if not sys.platform.startswith("linux"):
        return None
    prctl = ctypes.CDLL(None, use_errno=True).prctl   # looked up now: the child only calls it
    parent = os.getpid()

    def arm() -> None:
        prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
        if os.getppid() != parent:   # the launcher died before the signal was armed
            os._exit(1)

    return arm


def signal_name(number: int) -> str:
    """``SIGTERM`` for 15 (the number itself when it names no signal)."""
    try:
        return signal.Signals(number).name
    except ValueError:
        return str(number)


class TaskProcess:
    """One start of a task: the child process (leader of its own process group), the threads
    that copy its stdout / stderr to ours with a ``[type:index]`` prefix, and whether the
    supervisor stopped it (`stop_signal`)."""

    def __init__(self, task: Task, command: Sequence[str], env: dict[str, str],
                 preexec: Callable[[], None] | None) -> None:
        self.task = task
        self.process = subprocess.Popen(
            list(command), env=env, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
            stderr=subprocess.PIPE, start_new_session=True, preexec_fn=preexec)
        prefix = f"[{task.name}] "
        self._copiers = [start_copying(self.process.stdout, sys.stdout, prefix),
                         start_copying(self.process.stderr, sys.stderr, prefix)]
        self.stop_signal: int | None = None

    @property
    def pid(self) -> int:
        return self.process.pid

    def poll(self) -> int | None:
        """The exit status (negative: killed by that signal), None while it runs."""
        return self.process.poll()

    def signal_group(self, number: int) -> None:
        """Sends signal `number` to the task's process group (its PID is the group's id); the
        group may outlive the task itself when the task left children behind."""
        try:
            os.killpg(self.process.pid, number)
        except (ProcessLookupError, PermissionError):
            pass

    def reap(self) -> int:
        """Waits for the process and for the last of its output; returns its exit status."""
        code = self.process.wait()
        for copier in self._copiers:
            copier.join(timeout=5)
        return code

    def describe_end(self) -> str:
        """How it ended, for logs and the summary: ``exit 3``, ``killed by SIGKILL``,
        ``stopped (SIGTERM)``, or ``running``."""
        code = self.poll()
        if code is None:
            return "running"
        how = f"exit {code}" if code >= 0 else f"killed by {signal_name(-code)}"
        if self.stop_signal is None:
            return how
        return f"stopped ({signal_name(-code) if code < 0 else how})"


def stop_processes(processes: Sequence[TaskProcess], timeout: float) -> None:
    """Stops `processes` and everything in their process groups: SIGTERM, then SIGKILL to
    the groups still there after `timeout` seconds; returns once every one has exited."""
    for proc in processes:
        if proc.poll() is None:
            proc.stop_signal = signal.SIGTERM
        proc.signal_group(signal.SIGTERM)
    deadline = time.monotonic() + timeout
    while any(proc.poll() is None for proc in processes) and time.monotonic() < deadline:
        time.sleep(POLL_S)
    for proc in processes:
        if proc.poll() is None:
            proc.stop_signal = signal.SIGKILL
            logger.warning("%s (pid %d) did not stop within %.0f s of SIGTERM: SIGKILL",
                           proc.task.name, proc.pid, timeout)
        proc.signal_group(signal.SIGKILL)
    for proc in processes:
        proc.reap()


@dataclass
class TaskRecord:
    """A task over the whole job: how often it was started and its latest start."""

    task: Task
    starts: int = 0
    process: TaskProcess | None = None


@dataclass
class Outcome:
    """How the job ended: the launcher's exit status and why."""

    exit_code: int
    reason: str


@dataclass
class SupervisorOptions:
    """The launcher's fault-handling settings (see the module docstring)."""

    max_restarts: int = 3
    restart_delay_s: float = 2.0
    stop_timeout_s: float = 10.0
    evaluator_timeout_s: float = 120.0


@dataclass
class Supervisor:
    """Starts `tasks` of `cluster` as ``command`` with their TF_CONFIG (on top of `env`),
    watches them and applies the restart policy; `run` returns the launcher's exit status
    after printing the summary."""

    cluster: dict[str, list[str]]
    tasks: Sequence[Task]
    command: Sequence[str]
    env: dict[str, str]
    options: SupervisorOptions = field(default_factory=SupervisorOptions)

    def __post_init__(self) -> None:
        self.records = {task.name: TaskRecord(task) for task in self.tasks}
        self.restarts = 0
        self.cluster_restarts = 0
        self._watched: set[str] = set()
        self._due: dict[str, float] = {}
        self._interrupt: int | None = None
        self._preexec = _die_with_parent()

    def request_stop(self, signum: int) -> None:
        """Asks the job to stop (from a signal handler): every task is stopped, the summary
        printed, and `run` returns 128 + `signum`."""
        self._interrupt = signum

    def run(self) -> int:
        """Runs the job to its end; returns the launcher's exit status (0: the chief
        finished, 1: restarts used up, 128 + N: stopped by signal N)."""
        started = time.monotonic()
        try:
            outcome = self._supervise()
        finally:
            self._stop(self._running())
        self._print_summary(outcome, time.monotonic() - started)
        return outcome.exit_code

    # -- the loop ---------------------------------------------------------------------------

    def _supervise(self) -> Outcome:
        for record in self.records.values():
            self._start(record)
        while True:
            if self._interrupt is not None:
                return Outcome(128 + self._interrupt,
                               f"stopped by {signal_name(self._interrupt)}")
            now = time.monotonic()
            for name, due in list(self._due.items()):
                if now >= due:
                    del self._due[name]
                    self._start(self.records[name])
            for name in sorted(self._watched):
                code = self.records[name].process.poll()
                if code is not None:
                    self._watched.discard(name)
                    outcome = self._on_exit(self.records[name])
                    if outcome is not None:
                        return outcome
                    break   # a cluster restart changes every record: look again
            time.sleep(POLL_S)

    def _on_exit(self, record: TaskRecord) -> Outcome | None:
        task, proc = record.task, record.process
        proc.signal_group(signal.SIGKILL)   # whatever the task left behind goes with it
        code = proc.reap()
        ended = proc.describe_end()
        if task.type == "chief" and code == 0:
            logger.info("the chief finished (exit 0): stopping the other tasks")
            self._finish()
            return Outcome(0, "the chief finished (exit 0)")
        # a ps exits 0 only after the chief marked the job done (cluster.serve): the chief is
        # about to exit 0 too, nothing is lost
        lost = task.type == "chief" or (task.type == "ps" and code != 0)
        if code == 0 and not lost:
            logger.info("%s finished (exit 0)", task.name)
            return None
        logger.error("%s ended (%s)%s", task.name, ended, ": the cluster is lost" if lost else "")
        if not self._take_restart(f"{task.name} {ended}"):
            return Outcome(1, f"{task.name} ended ({ended}) and no restart is left")
        if lost:
            self._restart_cluster()
        else:
            self._due[task.name] = time.monotonic() + self.options.restart_delay_s
        return None

    def _take_restart(self, why: str) -> bool:
        if self.restarts >= self.options.max_restarts:
            logger.error("no restart left (%d of %d used): stopping every task", self.restarts,
                         self.options.max_restarts)
            return False
        self.restarts += 1
        logger.warning("restart %d of %d (%s)", self.restarts, self.options.max_restarts, why)
        return True

    def _restart_cluster(self) -> None:
        self._stop(self._running())
        self._due.clear()
        self.cluster_restarts += 1
        if self._sleep(self.options.restart_delay_s):
            logger.warning("starting the whole cluster again (it resumes from the last "
                           "checkpoint)")
            for record in self.records.values():
                self._start(record)

    def _finish(self) -> None:
        """After the chief's success: stops the cluster now and the evaluator once it has
        exited by itself or its time is up."""
        self._due.clear()
        running = self._running()
        self._stop([proc for proc in running if proc.task.type != "evaluator"])
        evaluators = [proc for proc in running if proc.task.type == "evaluator"]
        if evaluators:
            logger.info("waiting up to %g s for the evaluator to finish",
                        self.options.evaluator_timeout_s)
            deadline = time.monotonic() + self.options.evaluator_timeout_s
            while (any(proc.poll() is None for proc in evaluators) and self._interrupt is None
                   and time.monotonic() < deadline):
                time.sleep(POLL_S)
            self._stop(evaluators)

    # -- processes --------------------------------------------------------------------------

    def _start(self, record: TaskRecord) -> None:
        env = dict(self.env, TF_CONFIG=tf_config(self.cluster, record.task),
                   PYTHONUNBUFFERED="1")
        record.process = TaskProcess(record.task, self.command, env, self._preexec)
        record.starts += 1
        self._watched.add(record.task.name)
        addresses = self.cluster.get(record.task.type, [])
        logger.info("started %s%s (pid %d)%s", record.task.name,
                    f" on {addresses[record.task.index]}" if addresses else "",
                    record.process.pid, f", start {record.starts}" if record.starts > 1 else "")

    def _running(self) -> list[TaskProcess]:
        return [record.process for record in self.records.values()
                if record.process is not None and record.process.poll() is None]

    def _stop(self, processes: list[TaskProcess]) -> None:
        if processes:
            stop_processes(processes, self.options.stop_timeout_s)
        self._watched.difference_update(proc.task.name for proc in processes)

    def _sleep(self, seconds: float) -> bool:
        """Sleeps `seconds` unless a stop is requested; False when one was."""
        deadline = time.monotonic() + seconds
        while self._interrupt is None and time.monotonic() < deadline:
            time.sleep(POLL_S)
        return self._interrupt is None

    # -- the summary ------------------------------------------------------------------------

    def _print_summary(self, outcome: Outcome, seconds: float) -> None:
        status = ("succeeded" if outcome.exit_code == 0
                  else "interrupted" if outcome.exit_code > 128 else "failed")
        lines = [f"easy_rec.distribute.launch {status}: {outcome.reason}; {seconds:.1f} s; "
                 f"{self.restarts} of {self.options.max_restarts} restarts used "
                 f"({self.cluster_restarts} of the whole cluster); exit status "
                 f"{outcome.exit_code}",
                 f"  {'task':<13} {'starts':>6}  {'last pid':>8}  how it ended"]
        for name, record in self.records.items():
            proc = record.process
            pid = str(proc.pid) if proc else "-"
            ended = proc.describe_end() if proc else "never started"
            lines.append(f"  {name:<13} {record.starts:>6}  {pid:>8}  {ended}")
        write_line(sys.stderr, "\n".join(lines) + "\n")
