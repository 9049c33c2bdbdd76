"""``python -m easy_rec.hpo report --exp_dir D``: ranked trials, the best config, a plot.

Reads ``D/hpo.sqlite`` (also while the experiment runs) and

* prints the trials ranked by their final metric (failed and unfinished ones last, with
  their error and log path) and writes the same table to ``D/hpo_results.csv`` (pandas);
* writes ``D/best.config``: the best trial's fully rewritten pipeline config;
* writes ``D/hpo_report.png``: the metric per trial with the best so far, the metric over
  training steps per trial, and the metric against each searched parameter.
"""
from __future__ import annotations

import json
import math
import os
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TextIO

from google.protobuf import text_format

from easy_rec import cli
from easy_rec.config.paths import PathSyntaxError, split_path
from easy_rec.hpo import layout
from easy_rec.hpo.objective import sort_key
from easy_rec.hpo.store import (
    SUCCEEDED,
    EvaluationRecord,
    ExperimentRecord,
    HpoStore,
    TrialRecord,
)
from easy_rec.protos import pipeline_pb2
from easy_rec.utils.files import atomic_write_text

if TYPE_CHECKING:
    import pandas

LOG_SCALE_TYPES = ("loguniform", "qloguniform", "lognormal", "qlognormal")


@dataclass
class RankedTrial:
    """A trial with its rank (None when it has no final metric) and its last step."""

    rank: int | None
    trial: TrialRecord
    last_step: int | None


@dataclass
class Report:
    """Everything the report shows."""

    experiment: ExperimentRecord
    ranked: list[RankedTrial]
    evaluations: list[EvaluationRecord]

    @property
    def best(self) -> TrialRecord | None:
        """The best succeeded trial, or None."""
        first = self.ranked[0] if self.ranked else None
        return first.trial if first is not None and first.rank is not None else None


def load_report(exp_dir: str) -> Report:
    """Reads the experiment in `exp_dir` and ranks its trials."""
    with HpoStore(layout.db_path(exp_dir)) as store:
        experiment = store.load_experiment()
        trials = store.trials()
        evaluations = store.evaluations()
    return Report(experiment, rank_trials(trials, evaluations, experiment.maximize), evaluations)


def rank_trials(trials: Sequence[TrialRecord], evaluations: Sequence[EvaluationRecord],
                maximize: bool) -> list[RankedTrial]:
    """Succeeded trials by final metric, best first; then the rest in launch order."""
    last_steps: dict[str, int] = {}
    for evaluation in evaluations:
        last_steps[evaluation.trial_id] = max(evaluation.global_step,
                                              last_steps.get(evaluation.trial_id, 0))
    scored = [t for t in trials if t.status == SUCCEEDED and t.metric is not None]
    scored.sort(key=lambda t: sort_key(t.metric, maximize))
    others = [t for t in trials if t not in scored]
    ranked = [RankedTrial(i + 1, t, last_steps.get(t.trial_id)) for i, t in enumerate(scored)]
    ranked += [RankedTrial(None, t, last_steps.get(t.trial_id)) for t in others]
    return ranked


def short_names(keys: Sequence[str]) -> dict[str, str]:
    """Column names for parameter paths: the last path segment where that is unambiguous."""
    def last_segment(key: str) -> str:
        try:
            return split_path(key)[-1]
        except PathSyntaxError:
            return key

    short = {key: last_segment(key) for key in keys}
    counts: dict[str, int] = {}
    for name in short.values():
        counts[name] = counts.get(name, 0) + 1
    return {key: name if counts[name] == 1 else key for key, name in short.items()}


def format_value(value: Any) -> str:
    """A compact text form of a metric or parameter value."""
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.4g}" if math.isfinite(value) else str(value)
    if isinstance(value, (list, dict)):
        return json.dumps(value, separators=(",", ":"))
    return str(value)


def trials_frame(report: Report) -> pandas.DataFrame:
    """The ranked trials as a table: rank, trial, status, the metric, last step, seconds and
    one column per searched parameter (short names where unambiguous); raw values."""
    import pandas

    experiment = report.experiment
    keys = list(experiment.search_space)
    names = short_names(keys)
    rows = [{"rank": r.rank, "trial": r.trial.trial_id, "status": r.trial.status,
             experiment.metric: r.trial.metric, "steps": r.last_step,
             "seconds": None if r.trial.duration is None else round(r.trial.duration, 1),
             **{names[k]: r.trial.params.get(k) for k in keys}} for r in report.ranked]
    columns = ["rank", "trial", "status", experiment.metric, "steps", "seconds"] + \
        [names[k] for k in keys]
    return pandas.DataFrame(rows, columns=columns).astype({"rank": "Int64", "steps": "Int64"})


def format_table(frame: pandas.DataFrame) -> str:
    """The trials table as aligned text, values in their compact form."""
    import pandas

    def cell(value: Any) -> str:
        missing = value is None or value is pandas.NA or (
            isinstance(value, float) and math.isnan(value))
        return format_value(None if missing else value)

    header = [str(name) for name in frame.columns]
    rows = [[cell(value) for value in row] for row in frame.astype(object).itertuples(index=False)]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(text.ljust(width) for text, width in zip(row, widths)).rstrip()
             for row in [header, *rows]]
    lines.insert(1, "  ".join("-" * width for width in widths))
    return "\n".join(lines)


def write_results_csv(exp_dir: str, frame: pandas.DataFrame) -> str:
    """Writes ``exp_dir/hpo_results.csv`` (one row per trial, ranked) atomically."""
    path = os.path.join(exp_dir, layout.RESULTS_FILE)
    atomic_write_text(path, frame.to_csv(index=False))
    return path


def summary_lines(report: Report) -> list[str]:
    """Experiment header, the best trial, and the trials that did not succeed."""
    experiment = report.experiment
    counts: dict[str, int] = {}
    for ranked in report.ranked:
        counts[ranked.trial.status] = counts.get(ranked.trial.status, 0) + 1
    lines = [f"experiment {experiment.nni_experiment_id or '?'} ({experiment.status or '?'}): "
             f"{experiment.mode} {experiment.metric} with {experiment.tuner}; "
             f"{len(report.ranked)} trials ("
             + ", ".join(f"{n} {s.lower()}" for s, n in sorted(counts.items())) + ")"]
    best = report.best
    if best is not None:
        lines.append(f"best trial {best.trial_id}: {experiment.metric} = "
                     f"{format_value(best.metric)}; model_dir {best.model_dir}")
    else:
        lines.append("no trial has succeeded yet")
    for ranked in report.ranked:
        trial = ranked.trial
        if trial.status != SUCCEEDED:
            lines.append(f"  {trial.status.lower()} {trial.trial_id}: {trial.error or '-'} "
                         f"(log: {trial.log_path or trial.nni_log_dir or '-'})")
    return lines


def write_best_config(exp_dir: str, best: TrialRecord) -> str:
    """Copies the best trial's config to ``exp_dir/best.config`` after checking it parses."""
    if not best.config_path or not os.path.exists(best.config_path):
        raise FileNotFoundError(f"the config of best trial {best.trial_id} is missing: "
                                f"{best.config_path}")
    with open(best.config_path, encoding="utf-8") as f:
        text = f.read()
    text_format.Parse(text, pipeline_pb2.EasyRecConfig())
    path = os.path.join(exp_dir, layout.BEST_CONFIG_FILE)
    header = (f"# best trial {best.trial_id} of the easy_rec.hpo experiment in {exp_dir}\n"
              f"# parameters: {json.dumps(best.params, sort_keys=True)}\n")
    atomic_write_text(path, header + text)
    return path


# ---------------------------------------------------------------------------- plot
def plot_report(report: Report, path: str) -> str:
    """Draws the report figure to PNG `path` (matplotlib, Agg canvas); returns `path`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    keys = list(report.experiment.search_space)
    panels = 2 + len(keys)
    columns = min(3, panels)
    rows = math.ceil(panels / columns)
    figure = Figure(figsize=(5.0 * columns, 3.8 * rows))
    FigureCanvasAgg(figure)
    axes = figure.subplots(rows, columns, squeeze=False).ravel()
    _plot_trials(axes[0], report)
    _plot_curves(axes[1], report)
    names = short_names(keys)
    for axis, key in zip(axes[2:], keys):
        _plot_parameter(axis, report, key, names[key])
    for axis in axes[panels:]:
        axis.set_visible(False)
    figure.suptitle(f"easy_rec HPO: {report.experiment.metric} ({report.experiment.mode})")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return path


def _scored(report: Report) -> list[TrialRecord]:
    return [r.trial for r in report.ranked if r.rank is not None]


def _plot_trials(axis, report: Report) -> None:
    """Final metric by trial (launch order) and the best so far."""
    trials = sorted((r.trial for r in report.ranked),
                    key=lambda t: (t.start_time is None, t.start_time or 0.0))
    maximize = report.experiment.maximize
    xs, ys, best_so_far = [], [], []
    for index, trial in enumerate(trials, start=1):
        if trial.status == SUCCEEDED and trial.metric is not None:
            xs.append(index)
            ys.append(trial.metric)
            best = max(ys) if maximize else min(ys)
            best_so_far.append(best)
    failed = len(trials) - len(xs)
    axis.scatter(xs, ys, label="trial")
    if xs:
        axis.step(xs, best_so_far, where="post", color="tab:orange", label="best so far")
    axis.set_xlabel("trial (launch order)")
    axis.set_ylabel(report.experiment.metric)
    axis.set_title(f"{len(xs)} scored, {failed} not" if failed else f"{len(xs)} trials")
    axis.legend(loc="best", fontsize="small")


def _plot_curves(axis, report: Report) -> None:
    """Metric over training steps, one line per trial."""
    by_trial: dict[str, list[EvaluationRecord]] = {}
    for evaluation in report.evaluations:
        if evaluation.metric is not None:
            by_trial.setdefault(evaluation.trial_id, []).append(evaluation)
    for trial_id, evaluations in by_trial.items():
        axis.plot([e.global_step for e in evaluations], [e.metric for e in evaluations],
                  marker=".", label=trial_id)
    if 0 < len(by_trial) <= 10:
        axis.legend(loc="best", fontsize="x-small")
    axis.set_xlabel("global step")
    axis.set_ylabel(report.experiment.metric)
    axis.set_title("evaluations")


def _plot_parameter(axis, report: Report, key: str, name: str) -> None:
    """Final metric against the values of parameter `key`; the best trial starred."""
    trials = [t for t in _scored(report) if key in t.params]
    spec = report.experiment.search_space.get(key, {})
    values = [t.params[key] for t in trials]
    metrics = [t.metric for t in trials]
    positions, labels = _axis_positions(values, spec)
    axis.scatter(positions, metrics)
    best = report.best
    if best is not None and best in trials:
        index = trials.index(best)
        axis.scatter([positions[index]], [metrics[index]], marker="*", s=200,
                     color="tab:red", label="best")
        axis.legend(loc="best", fontsize="small")
    if labels is not None:
        axis.set_xticks(range(len(labels)), labels, rotation=30, fontsize="small")
    elif spec.get("_type") in LOG_SCALE_TYPES and all(v > 0 for v in positions):
        axis.set_xscale("log")
    axis.set_xlabel(name)
    axis.set_ylabel(report.experiment.metric)


def _axis_positions(values: Sequence[Any], spec: Mapping[str, Any]
                    ) -> tuple[list[float], list[str] | None]:
    """x positions of parameter values; category labels when they are not all numbers."""
    numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    if numeric:
        return [float(v) for v in values], None
    options = spec.get("_value") if spec.get("_type") == "choice" else None
    categories = [format_value(v) for v in (options or [])]
    for value in values:
        if format_value(value) not in categories:
            categories.append(format_value(value))
    return [float(categories.index(format_value(v))) for v in values], categories


# ---------------------------------------------------------------------------- command
def write_report(exp_dir: str, out: TextIO | None = None, plot: bool = True) -> int:
    """Prints the report of `exp_dir` (to `out`, default stdout), writes best.config and the
    plot; returns the exit status (0, or 1 when no trial succeeded)."""
    out = out or sys.stdout
    report = load_report(exp_dir)
    frame = trials_frame(report)
    print(format_table(frame), file=out)
    print(file=out)
    for line in summary_lines(report):
        print(line, file=out)
    print(f"table: {write_results_csv(exp_dir, frame)}", file=out)
    if plot and report.ranked:
        print(f"plot: {plot_report(report, os.path.join(exp_dir, layout.PLOT_FILE))}", file=out)
    if report.best is None:
        return 1
    print(f"best config: {write_best_config(exp_dir, report.best)}", file=out)
    return 0


def main(argv: list[str] | None = None) -> int:
    """``report`` subcommand; returns the exit status."""
    parser = cli.build_parser(
        "easy_rec.hpo report",
        "Rank the trials of an HPO experiment, write best.config and a plot.")
    parser.add_argument("--exp_dir", required=True, help="the experiment directory")
    parser.add_argument("--no_plot", action="store_true", help="skip the PNG plot")
    args = cli.parse_args(parser, argv, tensorflow=False)
    return write_report(args.exp_dir, plot=not args.no_plot)
