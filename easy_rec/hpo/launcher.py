"""Launching, resuming and watching the NNI experiment (local training service).

The NNI manager is a Node.js process; its REST server and web UI listen on every interface
by default. The launcher starts it with a ``--require`` preload (through ``NODE_OPTIONS``)
that makes servers given only a port listen on 127.0.0.1, so the web UI is reachable from
this machine only (use an SSH tunnel to reach it from elsewhere).
"""
from __future__ import annotations

import contextlib
import json
import logging
import os
import re
import shlex
import socket
import sys
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import easy_rec
from easy_rec.hpo import layout
from easy_rec.hpo.store import (
    FAILED,
    SUCCEEDED,
    UNFINISHED,
    ExperimentRecord,
    HpoStore,
    TrialRecord,
)

logger = logging.getLogger(__name__)

LOOPBACK = "127.0.0.1"
TUNERS = {"tpe": "TPE", "random": "Random", "gridsearch": "GridSearch", "anneal": "Anneal",
          "evolution": "Evolution"}
ASSESSORS = {"medianstop": "Medianstop", "none": None}
# tuners this package implements (NNI 3.0's hyperopt-based Anneal fails with NumPy 2)
CUSTOM_TUNERS = {"Anneal": "easy_rec.hpo.anneal.AnnealTuner"}
SEEDED_TUNERS = ("TPE", "Random", "Anneal")
TERMINAL_TRIAL_STATUSES = frozenset(
    {"SUCCEEDED", "FAILED", "USER_CANCELED", "SYS_CANCELED", "EARLY_STOPPED"})
FINISHED_EXPERIMENT_STATUSES = frozenset({"DONE", "STOPPED", "ERROR"})
_DURATION = re.compile(r"\d+(\.\d+)?[smhd]")

# Preloaded into the NNI manager (Node.js): a server told only a port listens on loopback.
_LOOPBACK_PRELOAD = """\
// Written by easy_rec.hpo: bind servers that name no host to the loopback interface.
'use strict';
const net = require('net');
const listen = net.Server.prototype.listen;
net.Server.prototype.listen = function (...args) {
  if (typeof args[0] === 'number' && typeof args[1] !== 'string') {
    args.splice(1, 0, '__HOST__');
  } else if (args[0] && typeof args[0] === 'object' && args[0].port !== undefined &&
             args[0].host === undefined && args[0].path === undefined) {
    args[0] = Object.assign({}, args[0], { host: '__HOST__' });
  }
  return listen.apply(this, args);
};
""".replace("__HOST__", LOOPBACK)


@dataclass
class LaunchOptions:
    """How to run the experiment (the parts that may change on resume)."""

    max_trials: int = 10
    concurrency: int = 1
    max_duration: str | None = None
    port: int = 8080
    poll_seconds: float = 2.0
    seed: int | None = None


def parse_tuner(name: str) -> str:
    """NNI's builtin name of tuner `name` (any case); ValueError for unsupported ones."""
    try:
        return TUNERS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown tuner {name!r}; use one of "
                         f"{', '.join(TUNERS.values())}") from None


def parse_assessor(name: str) -> str | None:
    """NNI's builtin assessor name, or None for ``none``."""
    try:
        return ASSESSORS[name.strip().lower()]
    except KeyError:
        raise ValueError(f"unknown assessor {name!r}; use Medianstop or none") from None


def check_duration(text: str | None) -> str | None:
    """`text` when it is an NNI duration such as ``90s``, ``30m``, ``2h``, ``1d``."""
    if text is not None and not _DURATION.fullmatch(text.strip()):
        raise ValueError(f"bad duration {text!r}: use a number and a unit s, m, h or d "
                         "(e.g. 2h)")
    return text.strip() if text else None


def free_port() -> int:
    """A TCP port on the loopback interface that nothing listens on now."""
    with socket.socket() as sock:
        sock.bind((LOOPBACK, 0))
        return int(sock.getsockname()[1])


def package_root() -> str:
    """The directory that holds this easy_rec package (put on the trials' PYTHONPATH)."""
    return os.path.dirname(os.path.dirname(os.path.abspath(easy_rec.__file__)))


def web_ui_url(port: int) -> str:
    """The web UI address (loopback only)."""
    return f"http://{LOOPBACK}:{port}"


def trial_command(exp_dir: str) -> str:
    """The shell command NNI runs for each trial."""
    return (f"{shlex.quote(sys.executable)} -m easy_rec.hpo.trial "
            f"--exp_dir {shlex.quote(os.path.abspath(exp_dir))}")


def build_experiment(record: ExperimentRecord, exp_dir: str, options: LaunchOptions,
                     experiment_id: str | None = None, code_dir: str | None = None):
    """An nni.experiment.Experiment on the local training service, configured from `record`.

    Trials run in `code_dir` (default: the current directory), so relative paths in the
    config mean what they mean to ``python -m easy_rec.train`` run here.
    """
    from nni.experiment import Experiment
    from nni.experiment.config import AlgorithmConfig

    experiment = Experiment("local", id=experiment_id)
    config = experiment.config
    config.experiment_name = f"easy_rec {os.path.basename(os.path.abspath(exp_dir))}"
    config.trial_command = trial_command(exp_dir)
    config.trial_code_directory = os.path.abspath(code_dir or os.getcwd())
    config.search_space = record.search_space
    config.trial_concurrency = options.concurrency
    config.max_trial_number = options.max_trials
    if options.max_duration:
        config.max_experiment_duration = options.max_duration
    config.experiment_working_directory = os.path.abspath(layout.nni_dir(exp_dir))
    config.tuner = tuner_config(record.tuner, record.mode, options.seed)
    if record.assessor != "none":
        config.assessor = AlgorithmConfig(name=record.assessor,
                                          class_args={"optimize_mode": record.mode})
    return experiment


def tuner_config(tuner: str, mode: str, seed: int | None):
    """NNI's config of a builtin tuner, or of one this package implements."""
    from nni.experiment.config import AlgorithmConfig, CustomAlgorithmConfig

    arguments = tuner_arguments(tuner, mode, seed)
    if tuner in CUSTOM_TUNERS:
        return CustomAlgorithmConfig(class_name=CUSTOM_TUNERS[tuner],
                                     code_directory=package_root(), class_args=arguments)
    return AlgorithmConfig(name=tuner, class_args=arguments)


def tuner_arguments(tuner: str, mode: str, seed: int | None) -> dict:
    """class_args of a builtin tuner."""
    arguments: dict = {"optimize_mode": mode}
    if seed is not None and tuner in SEEDED_TUNERS:
        arguments["seed"] = seed
    return arguments


@contextlib.contextmanager
def nni_environment(exp_dir: str) -> Iterator[None]:
    """Environment for the NNI manager and, through it, the tuner and the trials.

    NODE_OPTIONS preloads the loopback binding; PYTHONPATH puts this easy_rec first so
    trials run the same code as the launcher. Both are restored afterwards.
    """
    preload = os.path.join(os.path.abspath(layout.nni_dir(exp_dir)), "bind_loopback.js")
    os.makedirs(os.path.dirname(preload), exist_ok=True)
    with open(preload, "w", encoding="utf-8") as f:
        f.write(_LOOPBACK_PRELOAD)
    saved = {key: os.environ.get(key) for key in ("NODE_OPTIONS", "PYTHONPATH")}
    node_options = f"--require {json.dumps(preload)}"
    os.environ["NODE_OPTIONS"] = " ".join(filter(None, [saved["NODE_OPTIONS"], node_options]))
    os.environ["PYTHONPATH"] = os.pathsep.join(filter(None, [package_root(),
                                                             saved["PYTHONPATH"]]))
    try:
        yield
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


class _DropPortalUrls(logging.Filter):
    """Hides NNI's "Web portal URLs" line: it lists every interface, but the UI is loopback."""

    def filter(self, record: logging.LogRecord) -> bool:
        return not str(record.msg).startswith("Web portal URLs")


def quiet_nni_logging() -> None:
    """NNI logs through its own handler; keep its records from printing twice."""
    nni_logger = logging.getLogger("nni")
    nni_logger.propagate = False
    experiment_logger = logging.getLogger("nni.experiment")
    if not any(isinstance(f, _DropPortalUrls) for f in experiment_logger.filters):
        experiment_logger.addFilter(_DropPortalUrls())


def start(experiment, exp_dir: str, options: LaunchOptions, resume: bool) -> None:
    """Starts (or resumes) `experiment` in the background with its web UI on loopback."""
    quiet_nni_logging()
    with nni_environment(exp_dir):
        if resume:
            experiment.resume(port=options.port, wait_completion=False)
        else:
            experiment.start(port=options.port)
    if resume:
        # a resumed NNI experiment keeps its stored limits; apply the ones asked for now
        experiment.update_max_trial_number(options.max_trials)
        experiment.update_trial_concurrency(options.concurrency)
        if options.max_duration:
            experiment.update_max_experiment_duration(options.max_duration)


def manager_pid(experiment) -> int | None:
    """Process id of the NNI manager of a started experiment."""
    process = getattr(experiment, "_proc", None)
    return getattr(process, "pid", None)


def wait(experiment, store: HpoStore, exp_dir: str, poll_seconds: float) -> str:
    """Polls until the experiment is done; keeps the database in step. Returns NNI's status.

    Done: NNI reports DONE, STOPPED or ERROR, or the tuner has no more trials to propose
    (a grid search that is exhausted) and no trial is left running.
    """
    settled_polls = 0
    progress = ""
    while True:
        time.sleep(poll_seconds)
        status, jobs = _poll(experiment)
        sync_trials(store, exp_dir, jobs)
        progress = _log_progress(status, jobs, progress)
        if status in FINISHED_EXPERIMENT_STATUSES:
            return status
        all_ended = all(job.status in TERMINAL_TRIAL_STATUSES for job in jobs)
        settled_polls = settled_polls + 1 if status == "TUNER_NO_MORE_TRIAL" and all_ended else 0
        if settled_polls >= 2:
            return status


def _poll(experiment) -> tuple[str, list]:
    """NNI's experiment status and trial jobs; RuntimeError when the manager is gone."""
    try:
        return experiment.get_status(), experiment.list_trial_jobs()
    except Exception as error:  # noqa: BLE001 - REST failures come in many types
        raise RuntimeError(f"lost contact with the NNI manager of experiment {experiment.id} "
                           f"({type(error).__name__}: {error}); see its log in "
                           f"{experiment.config.experiment_working_directory}") from error


def _log_progress(status: str, jobs: Sequence, previous: str) -> str:
    counts: dict[str, int] = {}
    for job in jobs:
        counts[job.status] = counts.get(job.status, 0) + 1
    line = f"{status}: " + (", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items()))
                            or "no trials yet")
    if line != previous:
        logger.info("experiment %s", line)
    return line


def sync_trials(store: HpoStore, exp_dir: str, jobs: Sequence) -> None:
    """Brings the database in line with NNI's view of ended trials.

    A trial whose process never recorded itself (it died before easy_rec started) gets a
    row pointing at NNI's log; an unfinished row (RUNNING, INTERRUPTED) of an ended trial
    takes NNI's status (FAILED after a kill, EARLY_STOPPED by the assessor, ...).
    """
    known = {trial.trial_id: trial for trial in store.trials()}
    for job in jobs:
        if job.status not in TERMINAL_TRIAL_STATUSES:
            continue
        record = known.get(job.trialJobId)
        end_time = job.endTime / 1000.0 if job.endTime else time.time()
        if record is None:
            store.add_trial(_record_from_job(job, exp_dir, end_time))
        elif record.status in UNFINISHED and record.status != job.status:
            error = None
            if job.status == FAILED:
                error = "the trial process ended without recording a result (killed?)"
            store.set_trial_status(job.trialJobId, job.status, end_time, error, job.logPath)


def _record_from_job(job, exp_dir: str, end_time: float) -> TrialRecord:
    """A row for a trial known only to NNI."""
    params = job.hyperParameters[0].parameters if job.hyperParameters else {}
    start_time = job.startTime / 1000.0 if job.startTime else None
    paths = layout.trial_paths(exp_dir, job.trialJobId)
    log_path = os.path.join(job.logPath, "trial.stderr") if job.logPath else None
    status = job.status if job.status != SUCCEEDED else FAILED
    return TrialRecord(
        trial_id=job.trialJobId, sequence=job.sequenceId, params=params, status=status,
        start_time=start_time, end_time=end_time,
        duration=None if start_time is None else end_time - start_time,
        model_dir=paths.model_dir, config_path=None, log_path=log_path,
        nni_log_dir=job.logPath,
        error="the trial process ended before easy_rec recorded it; see its log")


def stop(experiment) -> None:
    """Stops the NNI manager (and with it the tuner and any running trial)."""
    try:
        experiment.stop()
    except Exception:  # noqa: BLE001 - stopping is best effort; NNI kills what it can
        logger.exception("could not stop NNI experiment %s cleanly", experiment.id)
