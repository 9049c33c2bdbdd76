"""One trial: ``python -m easy_rec.hpo.trial --exp_dir D`` (NNI's trial command).

Takes the tuner's parameters (``nni.get_next_parameter()``), applies them to the base config
as ``--edit_config_json`` edits (with ``model_dir`` = ``D/trials/<trial_id>/model``), writes
the rewritten config to ``D/trials/<trial_id>/pipeline.config`` and trains it. Every
evaluation is stored in ``D/hpo.sqlite`` and reported to NNI as an intermediate result; the
last one is the final result. Any error marks the trial FAILED in the database (with the
message and the log path) and exits 1, which NNI records as a failed trial and moves on.

Outside NNI, ``--trial_id T --parameters '{...}'`` runs one trial by hand (nothing is
reported to NNI).
"""
from __future__ import annotations

import argparse
import contextlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Mapping
from typing import Any, Protocol

from easy_rec import cli
from easy_rec.config.errors import ConfigError
from easy_rec.hpo import layout
from easy_rec.hpo.objective import metric_value
from easy_rec.hpo.store import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    EvaluationRecord,
    ExperimentRecord,
    HpoStore,
    TrialRecord,
    finite_or_none,
)
from easy_rec.pipeline import load_pipeline_config, save_pipeline_config

logger = logging.getLogger("easy_rec.hpo.trial")

EXIT_FAILED = 1
EXIT_INTERRUPTED = 130
LOG_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class Reporter(Protocol):
    """Where a trial's metrics go besides the database (NNI, or nowhere)."""

    def intermediate(self, value: float, results: Mapping[str, Any]) -> None: ...

    def final(self, value: float, results: Mapping[str, Any]) -> None: ...


class NniReporter:
    """Reports to NNI: the experiment metric as ``default`` plus the other finite metrics."""

    def intermediate(self, value: float, results: Mapping[str, Any]) -> None:
        import nni

        nni.report_intermediate_result(_nni_payload(value, results))

    def final(self, value: float, results: Mapping[str, Any]) -> None:
        import nni

        nni.report_final_result(_nni_payload(value, results))


class LogReporter:
    """Only logs (a trial run by hand, outside NNI)."""

    def intermediate(self, value: float, results: Mapping[str, Any]) -> None:
        logger.info("intermediate result %.6g", value)

    def final(self, value: float, results: Mapping[str, Any]) -> None:
        logger.info("final result %.6g", value)


def _nni_payload(value: float, results: Mapping[str, Any]) -> dict[str, float]:
    payload = {str(k): finite_or_none(v) for k, v in results.items()}
    payload = {k: v for k, v in payload.items() if v is not None}
    payload["default"] = float(value)
    return payload


class EvalRecorder:
    """Trainer eval observer: stores each evaluation and reports the metric once per step."""

    def __init__(self, store: HpoStore, trial_id: str, metric: str, reporter: Reporter):
        self._store = store
        self._trial_id = trial_id
        self._metric = metric
        self._reporter = reporter
        self._last_reported_step: int | None = None

    def __call__(self, global_step: int, results: dict[str, float]) -> None:
        value = finite_or_none(results.get(self._metric))
        self._store.record_evaluation(EvaluationRecord(
            self._trial_id, int(global_step), value, dict(results), time.time()))
        if value is None:
            logger.warning("evaluation at step %d has no finite %r; not reported", global_step,
                           self._metric)
            return
        if global_step == self._last_reported_step:
            return  # the final evaluation repeats the last in-loop one
        self._reporter.intermediate(value, results)
        self._last_reported_step = int(global_step)


def trial_edits(experiment: ExperimentRecord, params: Mapping[str, Any],
                model_dir: str) -> dict[str, Any]:
    """The base edits, then the tuner's parameters, then the trial's model_dir."""
    return {**experiment.edits, **params, "model_dir": model_dir}


def write_trial_config(experiment: ExperimentRecord, params: Mapping[str, Any],
                       paths: layout.TrialPaths):
    """Writes the trial's rewritten config and returns it, checked.

    A config that fails the checks is still written (unchecked), so that the failed trial
    leaves the offending config next to its log; then the error is raised.
    """
    edits = trial_edits(experiment, params, paths.model_dir)
    try:
        config = load_pipeline_config(experiment.pipeline_config, edits).config
    except ConfigError:
        with contextlib.suppress(ConfigError):
            unchecked = load_pipeline_config(experiment.pipeline_config, edits, validate=False)
            save_pipeline_config(unchecked.config, paths.config_path)
        raise
    save_pipeline_config(config, paths.config_path)
    return config


def train_trial(experiment: ExperimentRecord, params: Mapping[str, Any],
                paths: layout.TrialPaths, recorder: EvalRecorder,
                reporter: Reporter) -> tuple[float, dict[str, float]]:
    """Trains the trial's config; returns (final metric, final results)."""
    config = write_trial_config(experiment, params, paths)
    from easy_rec.training.trainer import Trainer  # TensorFlow only once the config is good

    trainer = Trainer(config, base_dir=experiment.base_dir, eval_observer=recorder)
    results = trainer.train()
    value = metric_value(results, experiment.metric)
    reporter.final(value, results)
    return value, results


def run_trial(exp_dir: str, trial_id: str, params: Mapping[str, Any], sequence: int | None,
              reporter: Reporter) -> int:
    """Runs one trial and records it; returns the process exit status."""
    paths = layout.trial_paths(exp_dir, trial_id)
    os.makedirs(paths.trial_dir, exist_ok=True)
    handler = _log_to_file(paths.log_path)
    store = HpoStore(layout.db_path(exp_dir))
    try:
        experiment = store.load_experiment()
        store.start_trial(TrialRecord(
            trial_id=trial_id, sequence=sequence, params=dict(params), status=RUNNING,
            start_time=time.time(), model_dir=paths.model_dir, config_path=paths.config_path,
            log_path=paths.log_path, nni_log_dir=os.environ.get("NNI_OUTPUT_DIR")))
        logger.info("trial %s: %s", trial_id, json.dumps(params, sort_keys=True))
        recorder = EvalRecorder(store, trial_id, experiment.metric, reporter)
        return _run_recorded(store, experiment, trial_id, params, paths, recorder, reporter)
    finally:
        store.close()
        logging.getLogger().removeHandler(handler)
        handler.close()


def _run_recorded(store: HpoStore, experiment: ExperimentRecord, trial_id: str,
                  params: Mapping[str, Any], paths: layout.TrialPaths,
                  recorder: EvalRecorder, reporter: Reporter) -> int:
    try:
        value, results = train_trial(experiment, params, paths, recorder, reporter)
    except KeyboardInterrupt:
        logger.warning("trial %s interrupted (stopped by the assessor or with the experiment)",
                       trial_id)
        store.finish_trial(trial_id, INTERRUPTED, error="interrupted (SIGINT/SIGTERM)")
        return EXIT_INTERRUPTED
    except Exception as error:  # noqa: BLE001 - any failure is recorded, then NNI moves on
        logger.exception("trial %s failed", trial_id)
        store.finish_trial(trial_id, FAILED, error=f"{type(error).__name__}: {error}")
        return EXIT_FAILED
    store.finish_trial(trial_id, SUCCEEDED, metric=value, final_results=results)
    logger.info("trial %s succeeded: %s = %.6g", trial_id, experiment.metric, value)
    return 0


def _log_to_file(path: str) -> logging.Handler:
    """Adds a handler that copies every log record to `path`; returns it."""
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter(LOG_FORMAT))
    logging.getLogger().addHandler(handler)
    return handler


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def _parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--exp_dir", required=True, help="the experiment directory")
    parser.add_argument("--trial_id", default=None,
                        help="trial id (default: NNI's; required outside NNI)")
    parser.add_argument("--parameters", default=None,
                        help="JSON object of parameters (default: ask NNI's tuner)")
    return parser.parse_args(argv)


def _trial_inputs(args: argparse.Namespace) -> tuple[str, dict[str, Any], int | None, Reporter]:
    """(trial id, parameters, sequence number, reporter) from NNI or from the arguments."""
    if args.parameters is not None:
        if not args.trial_id:
            raise SystemExit("--trial_id is required with --parameters")
        params = json.loads(args.parameters)
        if not isinstance(params, dict):
            raise SystemExit("--parameters must be a JSON object")
        return args.trial_id, params, None, LogReporter()
    if not os.environ.get("NNI_PLATFORM"):
        raise SystemExit("not running inside an NNI experiment: give --trial_id and --parameters")
    import nni

    params = nni.get_next_parameter()
    if params is None:
        raise SystemExit("NNI sent no parameters")
    return args.trial_id or nni.get_trial_id(), dict(params), nni.get_sequence_id(), NniReporter()


def main(argv: list[str] | None = None) -> int:
    """Entry point; returns the exit status."""
    args = _parse_args(argv)
    cli.setup_logging()
    signal.signal(signal.SIGTERM, _raise_interrupt)
    trial_id, params, sequence, reporter = _trial_inputs(args)
    return run_trial(os.path.abspath(args.exp_dir), trial_id, params, sequence, reporter)


if __name__ == "__main__":
    sys.exit(main())
