"""A job's folders across runs and entry points: a finished job run again exports nothing new;
eval and export read a read-only model_dir; an unwritable output folder is a one-line error."""
from __future__ import annotations

import json
import logging
import os
import subprocess
import sys

import pytest
from conftest import REPO, SAMPLES, sample_rows
from fs_helpers import make_read_only, make_writable, permission_run_kwargs
from pipeline_helpers import exporting_sample_config, train

from easy_rec.export.exporter import list_exports
from easy_rec.export.info import exported_step
from easy_rec.utils.writable import NotWritableError

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
EDITS = {"train_config.num_steps": 5, "data_config.num_epochs": 0, "data_config.batch_size": 64}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    folder = tmp_path_factory.mktemp("data")
    (folder / "train.csv").write_text("".join(sample_rows("movielens_train.csv", 2000)))
    (folder / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 200)))
    return str(folder / "train.csv"), str(folder / "test.csv")


@pytest.fixture(scope="module")
def trained(tmp_path_factory, data) -> str:
    """model_dir of a finished 5-step job."""
    model_dir = str(tmp_path_factory.mktemp("job") / "model")
    train(exporting_sample_config("deepfm", model_dir, *data, **EDITS))
    return model_dir


# the input-path flags each entry point takes
_INPUT_FLAGS = {"easy_rec.train": ("--train_input_path", "--eval_input_path"),
                "easy_rec.eval": ("--eval_input_path",), "easy_rec.export": ()}


def _cli(module: str, model_dir: str, data, *extra: str, **run_kwargs):
    paths = dict(zip(("--train_input_path", "--eval_input_path"), data))
    inputs = [arg for flag in _INPUT_FLAGS[module] for arg in (flag, paths[flag])]
    args = ["--pipeline_config", CONFIG, "--model_dir", model_dir, *inputs,
            "--edit_config_json", json.dumps(EDITS), *extra]
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          env=dict(os.environ, PYTHONPATH=REPO), **run_kwargs)


@pytest.mark.slow
def test_finished_job_run_again_exports_nothing_new(trained, data, caplog):
    final = os.path.join(trained, "export", "final")
    exports = list_exports(final)
    assert len(exports) == 1 and exported_step(os.path.join(final, exports[0])) == 5
    with caplog.at_level(logging.INFO):
        trainer, results = train(exporting_sample_config("deepfm", trained, *data, **EDITS))
    assert int(trainer.global_step) == 5 and "auc" in results
    assert list_exports(final) == exports
    assert "nothing left to train" in caplog.text and "nothing to export" in caplog.text
    assert [n for n in os.listdir(trained) if n.startswith(".writer-")] == []

    # killed after its last checkpoint, before the export: the next run makes the export
    os.rename(os.path.join(final, exports[0]), os.path.join(trained, "moved_away"))
    train(exporting_sample_config("deepfm", trained, *data, **EDITS))
    redone = list_exports(final)
    assert len(redone) == 1 and exported_step(os.path.join(final, redone[0])) == 5


@pytest.mark.slow
def test_eval_and_export_read_a_read_only_model_dir(trained, data, tmp_path):
    results_before = sorted(os.listdir(os.path.join(trained, "eval_results")))
    make_read_only(trained)
    try:
        kwargs = permission_run_kwargs(trained)
        evaluated = _cli("easy_rec.eval", trained, data, **kwargs)
        exported = _cli("easy_rec.export", trained, data, "--export_dir",
                        str(tmp_path / "exported"), **kwargs)
        trained_again = _cli("easy_rec.train", trained, data, **kwargs)
    finally:
        make_writable(trained)
    assert evaluated.returncode == 0, evaluated.stderr[-3000:]
    assert json.loads(evaluated.stdout.strip().splitlines()[-1])["global_step"] == 5
    assert f"model_dir {trained} is not writable (Permission denied)" in evaluated.stderr
    assert sorted(os.listdir(os.path.join(trained, "eval_results"))) == results_before
    assert exported.returncode == 0, exported.stderr[-3000:]
    assert os.path.exists(os.path.join(exported.stdout.strip(), "saved_model.pb"))
    assert trained_again.returncode == 1
    assert trained_again.stderr.strip().splitlines()[-1] == (
        f"error: model_dir {trained} is not writable: Permission denied")


@pytest.mark.slow
def test_eval_without_a_writable_model_dir_prints_results_only(trained, data, tmp_path,
                                                               monkeypatch, capsys):
    """The read-only eval path without permission bits: model_dir lies under a regular file."""
    from easy_rec import eval as eval_main

    (tmp_path / "file").write_text("x")
    monkeypatch.setattr(sys, "argv", [
        "eval", "--pipeline_config", CONFIG, "--model_dir", str(tmp_path / "file" / "m"),
        "--checkpoint_path", trained, "--eval_input_path", data[1]])
    assert eval_main.main() == 0
    assert json.loads(capsys.readouterr().out.strip().splitlines()[-1])["global_step"] == 5


def test_unwritable_export_dir_fails_before_the_checkpoint_is_read(tmp_path, data, monkeypatch):
    from easy_rec.export import __main__ as export_main

    (tmp_path / "file").write_text("x")
    export_dir = str(tmp_path / "file" / "exported")
    monkeypatch.setattr(sys, "argv", [
        "export", "--pipeline_config", CONFIG, "--model_dir", str(tmp_path / "no_checkpoints"),
        "--export_dir", export_dir])
    with pytest.raises(NotWritableError, match=f"^--export_dir {export_dir} is not writable: "):
        export_main.main()


@pytest.mark.slow
def test_unwritable_model_dir_fails_training_in_one_line(tmp_path, data):
    (tmp_path / "file").write_text("x")
    model_dir = str(tmp_path / "file" / "model")
    run = _cli("easy_rec.train", model_dir, data)
    assert run.returncode == 1
    assert run.stderr.strip().splitlines()[-1] == (
        f"error: model_dir {model_dir} is not writable: Not a directory")
