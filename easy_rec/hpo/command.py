"""``python -m easy_rec.hpo``: check the inputs, launch (or resume) the sweep, report.

Launch::

    python -m easy_rec.hpo --pipeline_config x.config --search_space space.json --exp_dir D \\
        [--max_trials 10] [--concurrency 1] [--tuner TPE] [--metric auc] [--mode maximize] \\
        [--max_duration 2h] [--port 8080] [--assessor none] [--edit_config_json '{...}']

Resume an interrupted experiment (settings come from D/hpo.sqlite; limits may be raised)::

    python -m easy_rec.hpo --resume --exp_dir D [--max_trials 20] [--port P]
"""
from __future__ import annotations

import argparse
import dataclasses
import json
import logging
import os
import signal
import time
from typing import Any

from easy_rec import cli
from easy_rec.config.edit import parse_edits
from easy_rec.hpo import launcher, layout, report
from easy_rec.hpo.objective import MODES, check_metric
from easy_rec.hpo.search_space import load_search_space, validate_search_space
from easy_rec.hpo.store import ExperimentRecord, HpoStore, to_json

logger = logging.getLogger("easy_rec.hpo")

DEFAULT_MAX_TRIALS = 10
DEFAULT_CONCURRENCY = 1
DEFAULT_PORT = 8080
MINIMIZED_METRICS = ("loss", "logloss", "mse", "mae", "rmse")
EXIT_OK, EXIT_ERROR, EXIT_INTERRUPTED = 0, 1, 130


def build_parser() -> argparse.ArgumentParser:
    """Arguments of the launch command."""
    parser = cli.build_parser("easy_rec.hpo", __doc__)
    parser.add_argument("--pipeline_config", "--pipeline_config_path", dest="pipeline_config",
                        help="base pipeline config (protobuf text format)")
    parser.add_argument("--search_space", help="NNI search space JSON keyed by config paths")
    parser.add_argument("--exp_dir", required=True,
                        help="experiment directory: database, trials, NNI files")
    parser.add_argument("--edit_config_json", default=None,
                        help="overrides applied to the base config before each trial's values")
    parser.add_argument("--train_input_path", default=None, help="overrides train_input_path")
    parser.add_argument("--eval_input_path", default=None, help="overrides eval_input_path")
    parser.add_argument("--max_trials", type=int, default=None,
                        help=f"trials to run in all (default {DEFAULT_MAX_TRIALS})")
    parser.add_argument("--concurrency", type=int, default=None,
                        help=f"trials at once (default {DEFAULT_CONCURRENCY})")
    parser.add_argument("--tuner", default="TPE",
                        help="TPE, Random, GridSearch, Anneal or Evolution (default TPE)")
    parser.add_argument("--metric", default="auc",
                        help="eval metric to optimize, e.g. auc, gauc, logloss (default auc)")
    parser.add_argument("--mode", choices=MODES, default=None,
                        help="maximize or minimize (default: minimize for loss, logloss, mse, "
                             "mae, rmse; else maximize)")
    parser.add_argument("--max_duration", default=None,
                        help="start no trial after this long (running ones finish), e.g. 30m, 2h, 1d")
    parser.add_argument("--port", type=int, default=None,
                        help=f"web UI port on 127.0.0.1 (default {DEFAULT_PORT}; 0 picks a "
                             "free one)")
    parser.add_argument("--assessor", default="none",
                        help="early stopping: Medianstop or none (default none)")
    parser.add_argument("--seed", type=int, default=None, help="seed of the TPE, Random or Anneal tuner")
    parser.add_argument("--resume", action="store_true",
                        help="resume the experiment in --exp_dir (earlier trials are kept)")
    parser.add_argument("--poll_seconds", type=float, default=2.0,
                        help="how often to poll NNI and update the database")
    parser.add_argument("--no_report", action="store_true",
                        help="do not print the report when the experiment ends")
    return parser


def base_edits(args: argparse.Namespace) -> dict[str, Any]:
    """--edit_config_json plus the input path shorthands."""
    edits = parse_edits(args.edit_config_json)
    for key in ("train_input_path", "eval_input_path"):
        if getattr(args, key):
            edits[key] = getattr(args, key)
    if "model_dir" in edits:
        raise ValueError("--edit_config_json: each trial sets its own model_dir "
                         "(exp_dir/trials/<trial_id>/model); remove model_dir")
    return edits


def default_mode(metric: str) -> str:
    """minimize for loss-like metrics, else maximize."""
    return "minimize" if metric.rstrip("_0123456789") in MINIMIZED_METRICS else "maximize"


def prepare(args: argparse.Namespace) -> tuple[ExperimentRecord, Any]:
    """Checks config, metric and search space; returns the settings and the base config."""
    from easy_rec.pipeline import load_pipeline_config

    if not args.pipeline_config or not args.search_space:
        raise ValueError("--pipeline_config and --search_space are required (or --resume)")
    edits = base_edits(args)
    loaded = load_pipeline_config(args.pipeline_config, edits)
    check_metric(loaded.config, args.metric)
    space = load_search_space(args.search_space)
    validate_search_space(space, loaded.config, os.path.abspath(args.pipeline_config))
    tuner = launcher.parse_tuner(args.tuner)
    assessor = launcher.parse_assessor(args.assessor) or "none"
    launcher.check_duration(args.max_duration)
    record = ExperimentRecord(
        pipeline_config=os.path.abspath(args.pipeline_config),
        base_dir=os.path.dirname(os.path.abspath(args.pipeline_config)),
        edits=edits, search_space=space, metric=args.metric,
        mode=args.mode or default_mode(args.metric), tuner=tuner, assessor=assessor,
        settings={"code_dir": os.getcwd()})
    return record, loaded.config


def launch_options(args: argparse.Namespace, stored: dict[str, Any]) -> launcher.LaunchOptions:
    """Limits from the arguments, else from the stored settings, else the defaults."""
    def pick(value: Any, key: str, default: Any) -> Any:
        return value if value is not None else stored.get(key, default)

    options = launcher.LaunchOptions(
        max_trials=pick(args.max_trials, "max_trials", DEFAULT_MAX_TRIALS),
        concurrency=pick(args.concurrency, "concurrency", DEFAULT_CONCURRENCY),
        max_duration=launcher.check_duration(pick(args.max_duration, "max_duration", None)),
        port=args.port if args.port is not None else DEFAULT_PORT,
        poll_seconds=args.poll_seconds,
        seed=pick(args.seed, "seed", None))
    if options.max_trials < 1 or options.concurrency < 1:
        raise ValueError("--max_trials and --concurrency must be at least 1")
    if options.port == 0:
        options.port = launcher.free_port()
    return options


def stored_options(settings: dict[str, Any],
                   options: launcher.LaunchOptions) -> launcher.LaunchOptions:
    """`options` with the limits the experiment was last launched with."""
    return dataclasses.replace(
        options, max_trials=settings.get("max_trials", options.max_trials),
        concurrency=settings.get("concurrency", options.concurrency),
        max_duration=settings.get("max_duration", options.max_duration))


def create_experiment_dir(exp_dir: str, record: ExperimentRecord, base_config) -> HpoStore:
    """Creates exp_dir with its database, search space and base config copies.

    An exp_dir whose experiment has no trial yet (say, its launch failed on a busy port) is
    taken over; one with trials is refused.
    """
    db = layout.db_path(exp_dir)
    os.makedirs(exp_dir, exist_ok=True)
    store = HpoStore(db, create=True)
    trials = store.trials()
    if trials:
        store.close()
        raise ValueError(f"{exp_dir} already holds an experiment with {len(trials)} trials: "
                         "use --resume, or a new --exp_dir")
    store.save_experiment(record)
    with open(os.path.join(exp_dir, layout.SEARCH_SPACE_FILE), "w", encoding="utf-8") as f:
        f.write(json.dumps(json.loads(to_json(record.search_space)), indent=2) + "\n")
    from easy_rec.pipeline import save_pipeline_config

    save_pipeline_config(base_config, os.path.join(exp_dir, layout.BASE_CONFIG_FILE))
    return store


def run_experiment(store: HpoStore, record: ExperimentRecord, exp_dir: str,
                   options: launcher.LaunchOptions, resume: bool) -> str:
    """Starts or resumes the NNI experiment and waits for it; returns the final status."""
    # a resumed experiment is configured as stored (NNI compares); new limits follow once up
    configured = stored_options(record.settings, options) if resume else options
    experiment = launcher.build_experiment(
        record, exp_dir, configured, record.nni_experiment_id if resume else None,
        code_dir=record.settings.get("code_dir"))
    settings = {**record.settings, "max_trials": options.max_trials,
                "concurrency": options.concurrency, "max_duration": options.max_duration,
                "seed": options.seed, "port": options.port}
    store.update_experiment(nni_experiment_id=experiment.id, settings=settings)
    launch_id = store.start_launch("resume" if resume else "create", experiment.id, options.port)
    status = "ERROR"
    try:
        launcher.start(experiment, exp_dir, options, resume)
        settings["manager_pid"] = launcher.manager_pid(experiment)
        store.update_experiment(status="RUNNING", settings=settings)
        print(f"NNI experiment {experiment.id} {'resumed' if resume else 'started'}; web UI: "
              f"{launcher.web_ui_url(options.port)} (loopback only)", flush=True)
        print(f"NNI logs: {os.path.join(layout.nni_dir(exp_dir), experiment.id, 'log')}",
              flush=True)
        status = launcher.wait(experiment, store, exp_dir, options.poll_seconds)
    except KeyboardInterrupt:
        status = "INTERRUPTED"
        logger.warning("interrupted: stopping the experiment (resume it with --resume)")
    finally:
        launcher.stop(experiment)
        store.end_launch(launch_id, status)
        store.update_experiment(status=status)
    return status


def open_for_resume(exp_dir: str, args: argparse.Namespace) -> tuple[ExperimentRecord, HpoStore]:
    """The stored settings and the database of the experiment in `exp_dir`."""
    store = HpoStore(layout.db_path(exp_dir))
    record = store.load_experiment()
    if not record.nni_experiment_id:
        store.close()
        raise ValueError(f"{exp_dir} was never launched; run without --resume")
    if args.pipeline_config or args.search_space or args.edit_config_json:
        logger.warning("--resume runs with the config, edits and search space stored in %s; "
                       "ignoring the ones given", layout.db_path(exp_dir))
    return record, store


def _print_report(exp_dir: str) -> None:
    """The report, or why it could not be made (the experiment result stands either way)."""
    try:
        report.write_report(exp_dir)
    except Exception:  # noqa: BLE001 - a report failure must not hide the experiment's end
        logger.exception("could not write the report")


def exit_status(status: str) -> int:
    """Process exit status for NNI's final experiment status."""
    if status == "INTERRUPTED":
        return EXIT_INTERRUPTED
    return EXIT_ERROR if status == "ERROR" else EXIT_OK


def _raise_interrupt(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


def main(argv: list[str] | None = None) -> int:
    """Launch command; returns the exit status."""
    args = cli.parse_args(build_parser(), argv)
    exp_dir = os.path.abspath(args.exp_dir)
    if args.resume:
        record, store = open_for_resume(exp_dir, args)
        options = launch_options(args, record.settings)
    else:
        record, base = prepare(args)
        options = launch_options(args, {})
        store = create_experiment_dir(exp_dir, record, base)
    signal.signal(signal.SIGTERM, _raise_interrupt)
    started = time.time()
    with store:
        status = run_experiment(store, record, exp_dir, options, args.resume)
    logger.info("experiment ended with status %s after %.0f s", status, time.time() - started)
    if not args.no_report:
        _print_report(exp_dir)
    print(f"report: python -m easy_rec.hpo report --exp_dir {exp_dir}", flush=True)
    return exit_status(status)
