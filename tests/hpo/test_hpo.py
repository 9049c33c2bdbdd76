"""Hyperparameter search with NNI: search-space checks, trials, the SQLite record, the
report, the annealing tuner, and real NNI experiments on a small slice of the sample data."""
from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from types import SimpleNamespace

import pytest
from conftest import REPO, SAMPLES, sample_rows

from easy_rec.hpo import launcher, layout, report
from easy_rec.hpo.__main__ import main as hpo_main
from easy_rec.hpo.command import default_mode
from easy_rec.hpo.search_space import (
    SearchSpaceError,
    sample_values,
    validate_search_space,
)
from easy_rec.hpo.store import (
    FAILED,
    INTERRUPTED,
    RUNNING,
    SUCCEEDED,
    EvaluationRecord,
    ExperimentRecord,
    HpoStore,
    TrialRecord,
)
from easy_rec.hpo.trial import run_trial
from easy_rec.pipeline import load_pipeline_config

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
EMBEDDING_DIM = "feature_config.features[:].embedding_dim"
HIDDEN_0 = "model_config.deepfm.dnn.hidden_units[0]"
LEARNING_RATE = ("train_config.optimizer_config[0].adam_optimizer.learning_rate."
                 "exponential_decay_learning_rate.initial_learning_rate")
# ~30 steps per trial, an evaluation every 10 steps, no export
SHORT_TRAINING = {
    "data_config.batch_size": 128,
    "data_config.num_epochs": 0,
    "train_config.num_steps": 30,
    "train_config.save_checkpoints_steps": 10,
    "train_config.log_step_count_steps": 10,
    "export_config.exporter_type": "none",
}
SWEEP_SPACE = {
    EMBEDDING_DIM: {"_type": "choice", "_value": [4, 8]},
    HIDDEN_0: {"_type": "choice", "_value": [16, 32]},
    LEARNING_RATE: {"_type": "loguniform", "_value": [0.0005, 0.01]},
}
LAUNCH_TIMEOUT = 300


@pytest.fixture(scope="module")
def hpo_data(tmp_path_factory):
    """(train, test) CSV slices: 5,000 and 500 rows of the sample."""
    root = tmp_path_factory.mktemp("hpo_data")
    train, test = root / "train.csv", root / "test.csv"
    train.write_text("".join(sample_rows("movielens_train.csv", 5000)), encoding="utf-8")
    test.write_text("".join(sample_rows("movielens_test.csv", 500)), encoding="utf-8")
    return str(train), str(test)


@pytest.fixture(scope="module")
def base_config(hpo_data):
    edits = {**SHORT_TRAINING, "train_input_path": hpo_data[0], "eval_input_path": hpo_data[1]}
    return load_pipeline_config(CONFIG, edits).config


def write_json(path, value) -> str:
    with open(path, "w", encoding="utf-8") as f:
        json.dump(value, f)
    return str(path)


# ---------------------------------------------------------------------------- search space
def test_sample_search_space_applies_to_the_sample_config():
    with open(os.path.join(SAMPLES, "hpo", "deepfm_search_space.json")) as f:
        space = json.load(f)
    config = load_pipeline_config(CONFIG).config
    assert validate_search_space(space, config, CONFIG) == []


@pytest.mark.parametrize("key, spec, expected", [
    ("feature_config.features[:].embedding_dimension", {"_type": "choice", "_value": [8]},
     "unknown field 'embedding_dimension'"),
    (EMBEDDING_DIM, {"_type": "choice", "_value": [8, "wide"]}, "'wide' is not an integer"),
    (EMBEDDING_DIM, {"_type": "choice", "_value": [-8]}, "out of range"),
    (EMBEDDING_DIM, {"_type": "uniform", "_value": [4, 64]}, "is not an integer"),
    ("model_config.deepfm.dnn.hidden_units[7]", {"_type": "choice", "_value": [64]},
     "out of range"),
    ("model_config.wide_and_deep.dnn.hidden_units[0]", {"_type": "choice", "_value": [64]},
     "wide_and_deep"),
    (HIDDEN_0, {"_type": "choise", "_value": [64]}, "unknown _type 'choise'"),
    (HIDDEN_0, {"_type": "randint", "_value": [64]}, "[low, high]"),
    (HIDDEN_0, {"_type": "quniform", "_value": [64, 32, 8]}, "low must be < high"),
    (LEARNING_RATE, {"_type": "loguniform", "_value": [0, 0.1]}, "must be > 0"),
    (HIDDEN_0, {"_value": [64]}, '"_type"'),
    (HIDDEN_0, {"_type": "choice", "_value": [{"_name": "a"}]}, "nested"),
    ("model_dir", {"_type": "choice", "_value": ["/tmp/x"]}, "model_dir"),
])
def test_search_space_errors_name_the_key(base_config, key, spec, expected):
    with pytest.raises(SearchSpaceError) as info:
        validate_search_space({HIDDEN_0: {"_type": "choice", "_value": [32]}, key: spec},
                              base_config)
    assert info.value.key == key
    assert f"search space key {key!r}" in str(info.value)
    assert expected in str(info.value)


def test_values_that_fail_the_config_checks_are_warnings(base_config):
    warnings = validate_search_space({EMBEDDING_DIM: {"_type": "choice", "_value": [0, 8]}},
                                     base_config)
    assert len(warnings) == 1
    assert EMBEDDING_DIM in warnings[0] and "embedding_dim > 0" in warnings[0]


def test_sample_values_cover_bounds_and_quantize():
    assert sample_values({"_type": "randint", "_value": [2, 5]}) == [2, 4]
    values = sample_values({"_type": "quniform", "_value": [8, 64, 8]})
    assert min(values) == 8 and max(values) == 64 and all(v % 8 == 0 for v in values)
    values = sample_values({"_type": "loguniform", "_value": [1e-4, 1e-2]})
    assert all(1e-4 <= v <= 1e-2 for v in values) and len(values) == 3


def test_bad_search_space_stops_the_launch_before_nni(tmp_path, hpo_data, capsys):
    space = write_json(tmp_path / "space.json", {HIDDEN_0: {"_type": "choice", "_value": [32]},
                                                 "model_config.deepfm.dnn.units": {
                                                     "_type": "choice", "_value": [1]}})
    status = hpo_main(["--pipeline_config", CONFIG, "--search_space", space,
                       "--exp_dir", str(tmp_path / "exp"), "--train_input_path", hpo_data[0],
                       "--eval_input_path", hpo_data[1]])
    assert status == 1
    assert "search space key 'model_config.deepfm.dnn.units'" in capsys.readouterr().err
    assert not os.path.exists(tmp_path / "exp" / layout.DB_FILE)


def test_unknown_metric_stops_the_launch(tmp_path, hpo_data, capsys):
    space = write_json(tmp_path / "space.json", {HIDDEN_0: {"_type": "choice", "_value": [32]}})
    status = hpo_main(["--pipeline_config", CONFIG, "--search_space", space, "--metric", "ndcg",
                       "--exp_dir", str(tmp_path / "exp"), "--train_input_path", hpo_data[0],
                       "--eval_input_path", hpo_data[1]])
    assert status == 1
    assert "metric 'ndcg' is not computed" in capsys.readouterr().err


def test_default_mode_minimizes_losses():
    assert default_mode("auc") == "maximize"
    assert default_mode("logloss") == "minimize"
    assert default_mode("loss") == "minimize"


# ---------------------------------------------------------------------------- trial, store
def make_experiment(exp_dir, hpo_data, metric="auc", mode="maximize") -> HpoStore:
    """An experiment directory with its database, as the launcher leaves it."""
    store = HpoStore(layout.db_path(str(exp_dir)), create=True)
    store.save_experiment(ExperimentRecord(
        pipeline_config=CONFIG, base_dir=SAMPLES,
        edits={**SHORT_TRAINING, "train_input_path": hpo_data[0],
               "eval_input_path": hpo_data[1]},
        search_space=SWEEP_SPACE, metric=metric, mode=mode, tuner="TPE", assessor="none"))
    return store


class RecordingReporter:
    def __init__(self):
        self.intermediate_values: list[float] = []
        self.final_values: list[float] = []

    def intermediate(self, value, results):
        self.intermediate_values.append(value)

    def final(self, value, results):
        self.final_values.append(value)


@pytest.mark.slow
def test_trial_records_evaluations_and_reports_each_step_once(tmp_path, hpo_data):
    exp_dir = str(tmp_path / "exp")
    make_experiment(exp_dir, hpo_data).close()
    reporter = RecordingReporter()
    params = {EMBEDDING_DIM: 4, HIDDEN_0: 16, LEARNING_RATE: 0.003}

    assert run_trial(exp_dir, "manual", params, None, reporter) == 0

    with HpoStore(layout.db_path(exp_dir)) as store:
        trial = store.trial("manual")
        evaluations = store.evaluations(["manual"])
    assert trial.status == SUCCEEDED and trial.params == params
    assert [e.global_step for e in evaluations] == [10, 20, 30]
    assert reporter.intermediate_values == [e.metric for e in evaluations]
    assert reporter.final_values == [trial.metric] and trial.metric == evaluations[-1].metric
    assert trial.duration > 0 and trial.final_results["auc"] == trial.metric
    assert trial.model_dir == layout.trial_paths(exp_dir, "manual").model_dir
    config = load_pipeline_config(trial.config_path).config
    assert config.model_config.deepfm.dnn.hidden_units[0] == 16
    assert config.model_dir == trial.model_dir


def test_failing_trial_is_recorded_with_its_error_and_log(tmp_path, hpo_data):
    exp_dir = str(tmp_path / "exp")
    make_experiment(exp_dir, hpo_data).close()
    params = {EMBEDDING_DIM: 0}

    assert run_trial(exp_dir, "bad", params, None, RecordingReporter()) == 1

    with HpoStore(layout.db_path(exp_dir)) as store:
        trial = store.trial("bad")
    assert trial.status == FAILED and trial.duration >= 0
    assert "embedding_dim > 0" in trial.error
    with open(trial.log_path, encoding="utf-8") as f:
        assert "embedding_dim > 0" in f.read()
    assert os.path.exists(trial.config_path)  # the offending config is kept for inspection


def test_store_is_wal_and_keeps_non_finite_metrics_out(tmp_path):
    with HpoStore(str(tmp_path / "db.sqlite"), create=True) as store:
        assert store._db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        store.start_trial(TrialRecord("t", 0, {"a": 1}, RUNNING))
        store.record_evaluation(EvaluationRecord("t", 5, float("nan"),
                                                 {"auc": float("nan"), "loss": 0.5}, 1.0))
        evaluation = store.evaluations()[0]
    assert evaluation.metric is None and evaluation.results == {"auc": None, "loss": 0.5}
    with pytest.raises(FileNotFoundError):
        HpoStore(str(tmp_path / "missing.sqlite"))


def fake_job(trial_id, status, params=None, log_dir=None):
    hyper = [SimpleNamespace(parameters=params)] if params is not None else []
    return SimpleNamespace(trialJobId=trial_id, status=status, hyperParameters=hyper,
                           startTime=1000_000, endTime=1005_000, sequenceId=3, logPath=log_dir)


def test_sync_takes_nni_status_for_trials_that_could_not_record_it(tmp_path):
    exp_dir = str(tmp_path)
    with HpoStore(layout.db_path(exp_dir), create=True) as store:
        store.start_trial(TrialRecord("killed", 0, {}, RUNNING, start_time=900.0))
        store.start_trial(TrialRecord("stopped", 1, {}, RUNNING, start_time=900.0))
        store.finish_trial("stopped", INTERRUPTED, error="interrupted")
        store.start_trial(TrialRecord("running", 2, {}, RUNNING, start_time=900.0))
        jobs = [fake_job("killed", "FAILED"), fake_job("stopped", "EARLY_STOPPED"),
                fake_job("running", "RUNNING"), fake_job("early", "FAILED", {"x": 1}, "/nni/e")]
        launcher.sync_trials(store, exp_dir, jobs)
        trials = {t.trial_id: t for t in store.trials()}
    assert trials["killed"].status == FAILED and "without recording" in trials["killed"].error
    assert trials["stopped"].status == "EARLY_STOPPED"
    assert trials["running"].status == RUNNING
    early = trials["early"]
    assert early.status == FAILED and early.params == {"x": 1}
    assert early.log_path == os.path.join("/nni/e", "trial.stderr")
    assert early.duration == pytest.approx(5.0)


# ---------------------------------------------------------------------------- report
def test_report_ranks_minimized_metric_and_lists_failures(tmp_path, hpo_data, capsys):
    exp_dir = str(tmp_path)
    with make_experiment(exp_dir, hpo_data, metric="logloss", mode="minimize") as store:
        for trial_id, loss in (("a", 0.7), ("b", 0.5), ("c", None)):
            paths = layout.trial_paths(exp_dir, trial_id)
            store.start_trial(TrialRecord(trial_id, 0, {HIDDEN_0: 16, EMBEDDING_DIM: 4}, RUNNING,
                                          config_path=paths.config_path,
                                          log_path=paths.log_path))
            store.record_evaluation(EvaluationRecord(trial_id, 10, loss, {"logloss": loss}, 1.0))
            if loss is None:
                store.finish_trial(trial_id, FAILED, error="ValueError: boom")
            else:
                store.finish_trial(trial_id, SUCCEEDED, metric=loss, final_results={})
    best_paths = layout.trial_paths(exp_dir, "b")
    os.makedirs(best_paths.trial_dir)
    shutil.copyfile(CONFIG, best_paths.config_path)

    loaded = report.load_report(exp_dir)
    assert [(r.rank, r.trial.trial_id) for r in loaded.ranked] == [(1, "b"), (2, "a"),
                                                                     (None, "c")]
    assert hpo_main(["report", "--exp_dir", exp_dir]) == 0
    out = capsys.readouterr().out
    assert "rank  trial  status" in out and "hidden_units[0]" in out
    assert "failed c: ValueError: boom" in out
    assert os.path.exists(os.path.join(exp_dir, layout.BEST_CONFIG_FILE))
    assert os.path.exists(os.path.join(exp_dir, layout.PLOT_FILE))
    with open(os.path.join(exp_dir, layout.RESULTS_FILE), encoding="utf-8") as f:
        csv_rows = [line.split(",")[:3] for line in f.read().splitlines()]
    assert csv_rows[0] == ["rank", "trial", "status"]
    assert [row[:2] for row in csv_rows[1:]] == [["1", "b"], ["2", "a"], ["", "c"]]


def test_report_without_a_successful_trial_exits_1(tmp_path, hpo_data, capsys):
    exp_dir = str(tmp_path)
    with make_experiment(exp_dir, hpo_data) as store:
        store.start_trial(TrialRecord("c", 0, {}, RUNNING))
        store.finish_trial("c", FAILED, error="boom")
    assert hpo_main(["report", "--exp_dir", exp_dir, "--no_plot"]) == 1
    assert "no trial has succeeded yet" in capsys.readouterr().out


# ---------------------------------------------------------------------------- NNI parts
def test_anneal_tuner_stays_in_the_space_and_narrows():
    pytest.importorskip("nni")
    from easy_rec.hpo.anneal import AnnealTuner

    space = {**SWEEP_SPACE, "q": {"_type": "quniform", "_value": [8, 64, 8]},
             "n": {"_type": "randint", "_value": [1, 4]},
             "units": {"_type": "choice", "_value": [[64, 32], [32]]}}
    tuner = AnnealTuner("minimize", seed=1, warmup=3)
    tuner.update_search_space(space)
    temperatures = []
    for parameter_id in range(12):
        params = tuner.generate_parameters(parameter_id)
        assert params[EMBEDDING_DIM] in (4, 8) and params["units"] in ([64, 32], [32])
        assert 0.0005 <= params[LEARNING_RATE] <= 0.01
        assert 8 <= params["q"] <= 64 and params["q"] % 8 == 0
        assert params["n"] in (1, 2, 3)
        tuner.receive_trial_result(parameter_id, params, {"default": params["q"] / 10.0})
        temperatures.append(tuner.temperature)
    assert temperatures == sorted(temperatures, reverse=True) and temperatures[-1] < 1.0
    resumed = AnnealTuner("minimize", seed=1)
    resumed.update_search_space(space)
    resumed.import_data([{"parameter": params, "value": 1.0}])
    assert resumed._history == [(params, 1.0)]


def test_experiment_config_for_nni(tmp_path):
    pytest.importorskip("nni")
    record = ExperimentRecord(CONFIG, SAMPLES, {}, SWEEP_SPACE, "auc", "maximize", "Anneal",
                              "Medianstop")
    options = launcher.LaunchOptions(max_trials=5, concurrency=2, max_duration="1h", seed=3)
    config = launcher.build_experiment(record, str(tmp_path), options).config
    assert "-m easy_rec.hpo.trial --exp_dir" in config.trial_command
    assert config.tuner.class_name == "easy_rec.hpo.anneal.AnnealTuner"
    assert config.tuner.class_args == {"optimize_mode": "maximize", "seed": 3}
    assert config.assessor.name == "Medianstop"
    assert config.experiment_working_directory == str(tmp_path / layout.NNI_DIR)
    assert (config.max_trial_number, config.trial_concurrency) == (5, 2)
    grid = launcher.tuner_config(launcher.parse_tuner("gridsearch"), "minimize", seed=3)
    assert (grid.name, grid.class_args) == ("GridSearch", {"optimize_mode": "minimize"})
    with pytest.raises(ValueError, match="unknown tuner"):
        launcher.parse_tuner("BOHB")
    with pytest.raises(ValueError, match="bad duration"):
        launcher.check_duration("2 hours")


# ---------------------------------------------------------------------------- real sweeps
def launch(args: list[str], workdir, home, while_running=None) -> tuple[int, str]:
    """Runs ``python -m easy_rec.hpo ARGS``; never leaves the launcher or NNI running."""
    exp_dir = args[args.index("--exp_dir") + 1]
    log_path = os.path.join(str(workdir), f"launch_{time.monotonic_ns()}.log")
    env = {**os.environ, "HOME": str(home), "TF_CPP_MIN_LOG_LEVEL": "2",
           "PYTHONPATH": os.pathsep.join(filter(None, [REPO, os.environ.get("PYTHONPATH")]))}
    with open(log_path, "w", encoding="utf-8") as log:
        process = subprocess.Popen([sys.executable, "-m", "easy_rec.hpo", *args], cwd=workdir,
                                   env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        if while_running is not None:
            while_running(process, log_path)
        status = process.wait(timeout=LAUNCH_TIMEOUT)
    finally:
        stop_process(process)
        kill_nni_manager(exp_dir)
    with open(log_path, encoding="utf-8") as f:
        return status, f.read()


def stop_process(process: subprocess.Popen) -> None:
    """SIGTERM (the launcher then stops NNI), then SIGKILL."""
    if process.poll() is not None:
        return
    process.send_signal(signal.SIGTERM)
    try:
        process.wait(timeout=60)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


def manager_process(exp_dir: str):
    """The NNI manager the launcher started for `exp_dir`, if it still runs."""
    import psutil

    db = layout.db_path(exp_dir)
    if not os.path.exists(db):
        return None
    with HpoStore(db) as store:
        pid = store.load_experiment().settings.get("manager_pid")
    try:
        process = psutil.Process(pid) if pid else None
        alive = process is not None and process.is_running() and \
            process.status() != psutil.STATUS_ZOMBIE and \
            any("nni_node" in part for part in process.cmdline())
    except psutil.Error:
        return None
    return process if alive else None


def kill_nni_manager(exp_dir: str) -> None:
    """Kills the NNI manager's process group (it holds the tuner and the trials)."""
    process = manager_process(exp_dir)
    if process is not None:
        os.killpg(process.pid, signal.SIGKILL)


def wait_for_web_ui(process: subprocess.Popen, log_path: str) -> int:
    """The port in the launcher's "web UI: http://127.0.0.1:PORT" line."""
    deadline = time.time() + 180
    while time.time() < deadline and process.poll() is None:
        with open(log_path, encoding="utf-8") as f:
            for line in f:
                if "web UI: http://127.0.0.1:" in line:
                    return int(line.split("127.0.0.1:")[1].split()[0])
        time.sleep(0.5)
    raise AssertionError("the launcher never printed the web UI address")


def non_loopback_addresses() -> list[str]:
    import psutil

    return [a.address for addresses in psutil.net_if_addrs().values() for a in addresses
            if a.family == socket.AF_INET and not a.address.startswith("127.")]


def connects(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(3)
        return sock.connect_ex((host, port)) == 0


# embedding_dim 0 fails the config checks. With seed 1 the Anneal tuner proposes 4 first, then 0
# (a trial that fails); after the resume it draws its first proposal (4) again.
FAILING_SWEEP_SPACE = {**SWEEP_SPACE, EMBEDDING_DIM: {"_type": "choice", "_value": [0, 4, 8]}}


@pytest.mark.slow
def test_sweep_with_a_failed_trial_resume_report_end_to_end(tmp_path, hpo_data, capsys):
    """One NNI experiment: the custom Anneal tuner and the Medianstop assessor, a trial that
    fails without stopping the sweep, a resume with a raised limit, then the report."""
    pytest.importorskip("nni")
    exp_dir = str(tmp_path / "exp")
    space = write_json(tmp_path / "space.json", FAILING_SWEEP_SPACE)
    reachable = {}

    def probe(process, log_path):
        port = wait_for_web_ui(process, log_path)
        reachable["loopback"] = connects("127.0.0.1", port)
        reachable["others"] = [connects(a, port) for a in non_loopback_addresses()]

    common = ["--exp_dir", exp_dir, "--concurrency", "2", "--no_report"]
    status, output = launch(
        ["--pipeline_config", CONFIG, "--search_space", space, "--train_input_path", hpo_data[0],
         "--eval_input_path", hpo_data[1], "--edit_config_json", json.dumps(SHORT_TRAINING),
         "--tuner", "Anneal", "--seed", "1", "--assessor", "Medianstop", "--max_trials", "2",
         "--port", str(launcher.free_port()), *common], tmp_path, tmp_path / "home", probe)
    assert status == 0, output
    assert "fails the config checks" in output
    assert reachable["loopback"] and not any(reachable["others"])
    assert manager_process(exp_dir) is None
    status, output = launch(["--resume", "--max_trials", "3", "--port",
                             str(launcher.free_port()), *common], tmp_path, tmp_path / "home")
    assert status == 0, output
    assert "resumed; web UI: http://127.0.0.1:" in output
    assert manager_process(exp_dir) is None

    with HpoStore(layout.db_path(exp_dir)) as store:
        experiment, trials = store.load_experiment(), store.trials()
        evaluations, launches = store.evaluations(), store.launches()
    assert experiment.status == "DONE"
    assert [(x["action"], x["status"]) for x in launches] == [("create", "DONE"),
                                                              ("resume", "DONE")]
    assert len(trials) == 3 and len({t.trial_id for t in trials}) == 3
    assert sum(t.start_time < launches[1]["started"] for t in trials) == 2
    failed = [t for t in trials if t.params[EMBEDDING_DIM] == 0]
    assert len(failed) == 1 and failed[0].start_time < launches[1]["started"]
    failed = failed[0]
    assert failed.status == FAILED and "embedding_dim > 0" in failed.error
    with open(failed.log_path, encoding="utf-8") as f:
        assert "embedding_dim > 0" in f.read()
    assert not [e for e in evaluations if e.trial_id == failed.trial_id]
    succeeded = [t for t in trials if t is not failed]
    for trial in succeeded:
        assert trial.status == SUCCEEDED, trial.error
        assert set(trial.params) == set(SWEEP_SPACE)
        steps = [e for e in evaluations if e.trial_id == trial.trial_id]
        assert [e.global_step for e in steps] == [10, 20, 30]
        assert trial.metric == steps[-1].metric and 0.0 <= trial.metric <= 1.0
        assert trial.duration > 0
        paths = layout.trial_paths(exp_dir, trial.trial_id)
        assert (trial.model_dir, trial.config_path, trial.log_path) == \
            (paths.model_dir, paths.config_path, paths.log_path)
        assert os.path.exists(os.path.join(trial.model_dir, "checkpoint"))
        assert os.path.exists(trial.log_path) and os.path.isdir(trial.nni_log_dir)

    assert hpo_main(["report", "--exp_dir", exp_dir]) == 0
    out = capsys.readouterr().out
    ranked = sorted(succeeded, key=lambda t: -t.metric)
    table_ids = [line.split()[1] for line in out.splitlines()[2:5]]
    assert table_ids == [t.trial_id for t in ranked] + [failed.trial_id]
    assert any(line.startswith(f"  failed {failed.trial_id}: ") and "embedding_dim > 0" in line
               for line in out.splitlines())
    best = ranked[0]
    assert f"best trial {best.trial_id}" in out
    config = load_pipeline_config(os.path.join(exp_dir, layout.BEST_CONFIG_FILE)).config
    assert config.model_dir == best.model_dir
    assert {f.embedding_dim for f in config.feature_config.features} == {best.params[EMBEDDING_DIM]}
    assert config.model_config.deepfm.dnn.hidden_units[0] == best.params[HIDDEN_0]
    rate = config.train_config.optimizer_config[0].adam_optimizer.learning_rate
    assert math.isclose(rate.exponential_decay_learning_rate.initial_learning_rate,
                        best.params[LEARNING_RATE], rel_tol=1e-6)
    with open(os.path.join(exp_dir, layout.PLOT_FILE), "rb") as f:
        assert f.read(8) == b"\x89PNG\r\n\x1a\n"


def test_retrieval_and_task_metrics_can_be_optimized():
    from easy_rec.hpo.objective import available_metrics, check_metric

    dssm = load_pipeline_config(os.path.join(SAMPLES, "dssm_on_movielens.config")).config
    assert {"recall@10", "recall@50"} <= set(available_metrics(dssm))
    check_metric(dssm, "recall@50")
    mmoe = load_pipeline_config(os.path.join(SAMPLES, "mmoe_on_movielens.config")).config
    check_metric(mmoe, "auc_ctr")  # a task's metric: eval_config key + _<tower name>
    with pytest.raises(ValueError, match="not computed"):
        check_metric(mmoe, "ndcg")
