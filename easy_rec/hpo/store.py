"""The experiment's record: one SQLite database (``exp_dir/hpo.sqlite``).

The launcher writes the experiment settings; each trial process writes its own row as it
runs (start, one row per evaluation, end), so the record is current while the sweep runs and
survives an interrupted launcher. Concurrent trials share the file: WAL journal mode, a busy
timeout, and single-statement (autocommit) writes.

Tables (JSON columns hold UTF-8 JSON text; non-finite numbers are stored as null):

* ``experiment``: one row (id = 1): pipeline_config, base_dir, edits (JSON), search_space
  (JSON), metric, mode, tuner, assessor, settings (JSON), nni_experiment_id, status,
  created, updated.
* ``launches``: one row per launch or resume: id, action, nni_experiment_id, port,
  started, ended, status.
* ``trials``: trial_id (NNI's), sequence, params (JSON), status, start_time, end_time,
  duration (seconds), model_dir, config_path, log_path, nni_log_dir, metric (final value of
  the experiment metric), final_results (JSON), error.
* ``evaluations``: trial_id, global_step, metric, results (JSON), time; one row per
  evaluation step of a trial.
"""
from __future__ import annotations

import json
import logging
import math
import os
import sqlite3
import time
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

logger = logging.getLogger(__name__)

BUSY_TIMEOUT_SECONDS = 60.0

# Trial statuses. A trial process writes RUNNING, SUCCEEDED, FAILED or INTERRUPTED (it got
# SIGINT/SIGTERM: stopped by the assessor or with the experiment); the launcher refines
# INTERRUPTED and stale RUNNING rows from NNI's own status (EARLY_STOPPED, USER_CANCELED, ...).
RUNNING = "RUNNING"
SUCCEEDED = "SUCCEEDED"
FAILED = "FAILED"
INTERRUPTED = "INTERRUPTED"
EARLY_STOPPED = "EARLY_STOPPED"
UNFINISHED = frozenset({RUNNING, INTERRUPTED, "WAITING", "UNKNOWN"})

_SCHEMA = """
CREATE TABLE IF NOT EXISTS experiment (
    id INTEGER PRIMARY KEY CHECK (id = 1),
    pipeline_config TEXT NOT NULL,
    base_dir TEXT NOT NULL,
    edits TEXT NOT NULL,
    search_space TEXT NOT NULL,
    metric TEXT NOT NULL,
    mode TEXT NOT NULL,
    tuner TEXT NOT NULL,
    assessor TEXT NOT NULL,
    settings TEXT NOT NULL,
    nni_experiment_id TEXT,
    status TEXT,
    created REAL NOT NULL,
    updated REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS launches (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    action TEXT NOT NULL,
    nni_experiment_id TEXT,
    port INTEGER,
    started REAL NOT NULL,
    ended REAL,
    status TEXT
);
CREATE TABLE IF NOT EXISTS trials (
    trial_id TEXT PRIMARY KEY,
    sequence INTEGER,
    params TEXT NOT NULL,
    status TEXT NOT NULL,
    start_time REAL,
    end_time REAL,
    duration REAL,
    model_dir TEXT,
    config_path TEXT,
    log_path TEXT,
    nni_log_dir TEXT,
    metric REAL,
    final_results TEXT,
    error TEXT
);
CREATE TABLE IF NOT EXISTS evaluations (
    trial_id TEXT NOT NULL,
    global_step INTEGER NOT NULL,
    metric REAL,
    results TEXT NOT NULL,
    time REAL NOT NULL,
    PRIMARY KEY (trial_id, global_step)
);
"""


@dataclass
class ExperimentRecord:
    """The settings an experiment was launched with (what trials and the report read)."""

    pipeline_config: str
    base_dir: str
    edits: dict[str, Any]
    search_space: dict[str, Any]
    metric: str
    mode: str
    tuner: str
    assessor: str
    settings: dict[str, Any] = field(default_factory=dict)
    nni_experiment_id: str | None = None
    status: str | None = None
    created: float = 0.0
    updated: float = 0.0

    @property
    def maximize(self) -> bool:
        """True when a larger metric is better."""
        return self.mode == "maximize"


@dataclass
class EvaluationRecord:
    """One evaluation of one trial."""

    trial_id: str
    global_step: int
    metric: float | None
    results: dict[str, Any]
    time: float


@dataclass
class TrialRecord:
    """One trial as stored."""

    trial_id: str
    sequence: int | None
    params: dict[str, Any]
    status: str
    start_time: float | None = None
    end_time: float | None = None
    duration: float | None = None
    model_dir: str | None = None
    config_path: str | None = None
    log_path: str | None = None
    nni_log_dir: str | None = None
    metric: float | None = None
    final_results: dict[str, Any] | None = None
    error: str | None = None


def finite_or_none(value: Any) -> float | None:
    """`value` as a float, or None when it is missing or not a finite number."""
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return number if math.isfinite(number) else None


def to_json(value: Any) -> str:
    """Strict JSON text of `value`; non-finite floats become null, numpy scalars plain."""
    return json.dumps(_jsonable(value), sort_keys=True, allow_nan=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, Mapping):
        return {str(k): _jsonable(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(v) for v in value]
    if isinstance(value, (bool, str)) or value is None:
        return value
    if isinstance(value, int):
        return int(value)
    if isinstance(value, float) or hasattr(value, "item"):
        number = value.item() if hasattr(value, "item") else value
        if isinstance(number, float):
            return number if math.isfinite(number) else None
        return number
    return str(value)


def _from_json(text: str | None, default: Any = None) -> Any:
    return default if text is None else json.loads(text)


class HpoStore:
    """Reads and writes ``hpo.sqlite``; one instance per process (not thread-safe)."""

    def __init__(self, path: str, create: bool = False):
        if not create and not os.path.exists(path):
            raise FileNotFoundError(f"no HPO database at {path} (is this an experiment "
                                    "directory made by python -m easy_rec.hpo?)")
        if create:
            os.makedirs(os.path.dirname(os.path.abspath(path)), exist_ok=True)
        self.path = path
        self._db = sqlite3.connect(path, timeout=BUSY_TIMEOUT_SECONDS, isolation_level=None)
        self._db.execute(f"PRAGMA busy_timeout = {int(BUSY_TIMEOUT_SECONDS * 1000)}")
        self._db.execute("PRAGMA journal_mode = WAL")
        self._db.execute("PRAGMA synchronous = NORMAL")
        if create:
            self._db.executescript(_SCHEMA)

    def close(self) -> None:
        """Closes the connection."""
        self._db.close()

    def __enter__(self) -> HpoStore:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()

    # ------------------------------------------------------------------ experiment
    def save_experiment(self, record: ExperimentRecord) -> None:
        """Writes (or replaces) the experiment row."""
        now = time.time()
        self._db.execute(
            "INSERT OR REPLACE INTO experiment (id, pipeline_config, base_dir, edits, "
            "search_space, metric, mode, tuner, assessor, settings, nni_experiment_id, status, "
            "created, updated) VALUES (1, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (record.pipeline_config, record.base_dir, to_json(record.edits),
             to_json(record.search_space), record.metric, record.mode, record.tuner,
             record.assessor, to_json(record.settings), record.nni_experiment_id, record.status,
             record.created or now, now))

    def load_experiment(self) -> ExperimentRecord:
        """The experiment row; LookupError when the launcher never wrote it."""
        row = self._db.execute(
            "SELECT pipeline_config, base_dir, edits, search_space, metric, mode, tuner, "
            "assessor, settings, nni_experiment_id, status, created, updated FROM experiment "
            "WHERE id = 1").fetchone()
        if row is None:
            raise LookupError(f"{self.path} holds no experiment")
        return ExperimentRecord(
            pipeline_config=row[0], base_dir=row[1], edits=_from_json(row[2], {}),
            search_space=_from_json(row[3], {}), metric=row[4], mode=row[5], tuner=row[6],
            assessor=row[7], settings=_from_json(row[8], {}), nni_experiment_id=row[9],
            status=row[10], created=row[11], updated=row[12])

    def update_experiment(self, **fields: Any) -> None:
        """Sets some columns of the experiment row (``settings`` is given as a dict)."""
        allowed = {"nni_experiment_id", "status", "settings"}
        unknown = set(fields) - allowed
        if unknown:
            raise ValueError(f"cannot update experiment columns {sorted(unknown)}")
        values = {k: to_json(v) if k == "settings" else v for k, v in fields.items()}
        assignments = ", ".join(f"{k} = ?" for k in values)
        self._db.execute(f"UPDATE experiment SET {assignments}, updated = ? WHERE id = 1",
                         (*values.values(), time.time()))

    def start_launch(self, action: str, nni_experiment_id: str, port: int) -> int:
        """Records a launch or resume; returns its id."""
        cursor = self._db.execute(
            "INSERT INTO launches (action, nni_experiment_id, port, started, status) "
            "VALUES (?, ?, ?, ?, ?)", (action, nni_experiment_id, port, time.time(), RUNNING))
        return int(cursor.lastrowid)

    def end_launch(self, launch_id: int, status: str) -> None:
        """Marks a launch as ended with `status` (NNI's experiment status)."""
        self._db.execute("UPDATE launches SET ended = ?, status = ? WHERE id = ?",
                         (time.time(), status, launch_id))

    def launches(self) -> list[dict[str, Any]]:
        """Every launch, oldest first."""
        rows = self._db.execute("SELECT id, action, nni_experiment_id, port, started, ended, "
                                "status FROM launches ORDER BY id").fetchall()
        keys = ("id", "action", "nni_experiment_id", "port", "started", "ended", "status")
        return [dict(zip(keys, row)) for row in rows]

    # ------------------------------------------------------------------ trials
    def start_trial(self, trial: TrialRecord) -> None:
        """Writes the row of a starting trial (replacing whatever an earlier attempt wrote)."""
        self._db.execute(
            "INSERT INTO trials (trial_id, sequence, params, status, start_time, model_dir, "
            "config_path, log_path, nni_log_dir) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) "
            "ON CONFLICT(trial_id) DO UPDATE SET sequence = excluded.sequence, "
            "params = excluded.params, status = excluded.status, "
            "start_time = excluded.start_time, end_time = NULL, duration = NULL, "
            "model_dir = excluded.model_dir, config_path = excluded.config_path, "
            "log_path = excluded.log_path, nni_log_dir = excluded.nni_log_dir, metric = NULL, "
            "final_results = NULL, error = NULL",
            (trial.trial_id, trial.sequence, to_json(trial.params), trial.status,
             trial.start_time or time.time(), trial.model_dir, trial.config_path,
             trial.log_path, trial.nni_log_dir))

    def record_evaluation(self, evaluation: EvaluationRecord) -> None:
        """Writes one evaluation (a repeated step replaces the earlier row)."""
        self._db.execute(
            "INSERT OR REPLACE INTO evaluations (trial_id, global_step, metric, results, time) "
            "VALUES (?, ?, ?, ?, ?)",
            (evaluation.trial_id, int(evaluation.global_step), finite_or_none(evaluation.metric),
             to_json(evaluation.results), evaluation.time))

    def finish_trial(self, trial_id: str, status: str, metric: float | None = None,
                     final_results: Mapping[str, Any] | None = None,
                     error: str | None = None, end_time: float | None = None) -> None:
        """Marks a trial ended: status, end time, duration, final metric and results, error."""
        end = end_time or time.time()
        self._db.execute(
            "UPDATE trials SET status = ?, end_time = ?, duration = ? - start_time, metric = ?, "
            "final_results = ?, error = ? WHERE trial_id = ?",
            (status, end, end, finite_or_none(metric),
             None if final_results is None else to_json(final_results), error, trial_id))

    def set_trial_status(self, trial_id: str, status: str, end_time: float | None = None,
                         error: str | None = None, nni_log_dir: str | None = None) -> None:
        """Changes the status of a trial row (from NNI's view); keeps what it does not set."""
        self._db.execute(
            "UPDATE trials SET status = ?, end_time = COALESCE(end_time, ?), "
            "duration = COALESCE(duration, ? - start_time), error = COALESCE(error, ?), "
            "nni_log_dir = COALESCE(nni_log_dir, ?) WHERE trial_id = ?",
            (status, end_time, end_time, error, nni_log_dir, trial_id))

    def add_trial(self, trial: TrialRecord) -> None:
        """Inserts a whole trial row (a trial NNI knows that never wrote its own)."""
        self._db.execute(
            "INSERT OR IGNORE INTO trials (trial_id, sequence, params, status, start_time, "
            "end_time, duration, model_dir, config_path, log_path, nni_log_dir, metric, "
            "final_results, error) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
            (trial.trial_id, trial.sequence, to_json(trial.params), trial.status,
             trial.start_time, trial.end_time, trial.duration, trial.model_dir,
             trial.config_path, trial.log_path, trial.nni_log_dir, finite_or_none(trial.metric),
             None if trial.final_results is None else to_json(trial.final_results), trial.error))

    def trials(self) -> list[TrialRecord]:
        """Every trial, in launch order."""
        rows = self._db.execute(
            "SELECT trial_id, sequence, params, status, start_time, end_time, duration, "
            "model_dir, config_path, log_path, nni_log_dir, metric, final_results, error "
            "FROM trials ORDER BY start_time IS NULL, start_time, sequence, trial_id").fetchall()
        return [TrialRecord(
            trial_id=r[0], sequence=r[1], params=_from_json(r[2], {}), status=r[3],
            start_time=r[4], end_time=r[5], duration=r[6], model_dir=r[7], config_path=r[8],
            log_path=r[9], nni_log_dir=r[10], metric=r[11], final_results=_from_json(r[12]),
            error=r[13]) for r in rows]

    def trial(self, trial_id: str) -> TrialRecord | None:
        """One trial, or None."""
        return next((t for t in self.trials() if t.trial_id == trial_id), None)

    def evaluations(self, trial_ids: Iterable[str] | None = None) -> list[EvaluationRecord]:
        """Evaluations (of `trial_ids`, else all), by trial and step."""
        rows = self._db.execute(
            "SELECT trial_id, global_step, metric, results, time FROM evaluations "
            "ORDER BY trial_id, global_step").fetchall()
        wanted = None if trial_ids is None else set(trial_ids)
        return [EvaluationRecord(r[0], r[1], r[2], _from_json(r[3], {}), r[4])
                for r in rows if wanted is None or r[0] in wanted]
