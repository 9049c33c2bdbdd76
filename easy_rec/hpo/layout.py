"""Where an HPO experiment keeps its files inside its experiment directory (``exp_dir``).

::

    exp_dir/
      hpo.sqlite                 experiment settings, trials, evaluations (easy_rec.hpo.store)
      search_space.json          the search space as launched
      base.config                the base config with --edit_config_json applied (for reading)
      nni/                       NNI's working directory (manager / tuner logs, NNI's own DB)
      trials/<trial_id>/
        pipeline.config          the trial's fully rewritten config
        model/                   its model_dir (checkpoints, eval_results/)
        trial.log                its log
      best.config, hpo_report.png, written by ``python -m easy_rec.hpo report``
"""
from __future__ import annotations

import os
from dataclasses import dataclass

DB_FILE = "hpo.sqlite"
SEARCH_SPACE_FILE = "search_space.json"
BASE_CONFIG_FILE = "base.config"
NNI_DIR = "nni"
TRIALS_DIR = "trials"
BEST_CONFIG_FILE = "best.config"
PLOT_FILE = "hpo_report.png"
RESULTS_FILE = "hpo_results.csv"


@dataclass(frozen=True)
class TrialPaths:
    """The files of one trial."""

    trial_dir: str
    config_path: str
    model_dir: str
    log_path: str


def db_path(exp_dir: str) -> str:
    """The SQLite database of the experiment in `exp_dir`."""
    return os.path.join(exp_dir, DB_FILE)


def nni_dir(exp_dir: str) -> str:
    """NNI's experiment working directory (NNI puts ``<experiment id>/`` inside)."""
    return os.path.join(exp_dir, NNI_DIR)


def trial_paths(exp_dir: str, trial_id: str) -> TrialPaths:
    """Paths of trial `trial_id` (absolute when `exp_dir` is)."""
    trial_dir = os.path.join(exp_dir, TRIALS_DIR, trial_id)
    return TrialPaths(
        trial_dir=trial_dir,
        config_path=os.path.join(trial_dir, "pipeline.config"),
        model_dir=os.path.join(trial_dir, "model"),
        log_path=os.path.join(trial_dir, "trial.log"),
    )
