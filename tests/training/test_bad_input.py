"""Bad training / evaluation input: a clear one-line error before the work starts, never a
silent or useless model (empty files, malformed eval rows, non-UTF-8 cells, no Kafka broker)."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
from conftest import REPO, SAMPLES, sample_rows
from pipeline_helpers import sample_config

from easy_rec.input.empty_input import EmptyInputError
from easy_rec.input.line_parser import MalformedRowError
from easy_rec.training.trainer import Trainer


def _write(path, rows: list[str] | bytes) -> str:
    path.write_bytes(rows if isinstance(rows, bytes) else "".join(rows).encode())
    return str(path)


def _bad_eval_file(tmp_path) -> str:
    rows = sample_rows("movielens_test.csv", 50)
    rows[2] = rows[2].replace("\t", "\tx", 1)  # user_id "x207" is not an int
    return _write(tmp_path / "test.csv", rows)


def _nothing_written(model_dir: str) -> bool:
    """No checkpoint and no export (the folders a job checks for writability may exist)."""
    if not os.path.exists(model_dir):
        return True
    if any(name.startswith(("ckpt", "checkpoint")) for name in os.listdir(model_dir)):
        return False
    return not any(files for _, _, files in os.walk(os.path.join(model_dir, "export")))


def test_empty_training_file_fails_before_training(tmp_path, small_data):
    train = _write(tmp_path / "train.csv", b"")
    model_dir = str(tmp_path / "m")
    with pytest.raises(EmptyInputError, match=rf"^no training rows in {train}: empty"):
        Trainer(sample_config("deepfm", model_dir, train, small_data[1]), base_dir=SAMPLES)
    assert _nothing_written(model_dir)


def test_empty_eval_file_fails_before_training(tmp_path, small_data):
    test = _write(tmp_path / "test.csv", b"")
    with pytest.raises(EmptyInputError, match=rf"^no evaluation rows in {test}: empty"):
        Trainer(sample_config("deepfm", str(tmp_path / "m"), small_data[0], test),
                base_dir=SAMPLES)


def test_malformed_eval_row_fails_before_training(tmp_path, small_data):
    test = _bad_eval_file(tmp_path)
    model_dir = str(tmp_path / "m")
    with pytest.raises(MalformedRowError,
                       match=rf"^malformed CSV row at {test}:3: column user_id: value x207 is"):
        Trainer(sample_config("deepfm", model_dir, small_data[0], test), base_dir=SAMPLES)
    assert _nothing_written(model_dir)


def test_evaluation_of_only_skipped_rows_invents_no_metrics(tmp_path, small_data):
    test = _write(tmp_path / "test.csv", ["1\t2\n"] * 30)  # every row has too few columns
    model_dir = str(tmp_path / "m")
    trainer = Trainer(sample_config("deepfm", model_dir, small_data[0], test, **{
        "data_config.ignore_error": True}), base_dir=SAMPLES)
    with pytest.raises(EmptyInputError, match=rf"no evaluation rows in {test}: all 30 rows were "
                                              "malformed and skipped"):
        trainer.evaluator.evaluate(0)
    assert not os.path.exists(os.path.join(model_dir, "eval_results"))


def _cli(module: str, *args: str, cwd) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", module, *args], capture_output=True, text=True,
                          cwd=str(cwd), env=dict(os.environ, PYTHONPATH=REPO), timeout=600)


def _error_line(run: subprocess.CompletedProcess) -> str:
    """The one error line the command printed (and that it printed no traceback)."""
    assert run.returncode == 1, run.stderr[-3000:]
    assert "Traceback" not in run.stderr, run.stderr[-3000:]
    return [line for line in run.stderr.splitlines() if line.startswith("error: ")][-1]


@pytest.mark.slow
def test_cli_reports_a_malformed_eval_row_before_training(tmp_path, small_data):
    test = _bad_eval_file(tmp_path)
    model_dir = str(tmp_path / "m")
    run = _cli("easy_rec.train", "--pipeline_config",
               os.path.join(SAMPLES, "deepfm_on_movielens.config"), "--model_dir", model_dir,
               "--train_input_path", small_data[0], "--eval_input_path", test, cwd=tmp_path)
    assert _error_line(run).startswith(f"error: malformed CSV row at {test}:3: column user_id")
    assert _nothing_written(model_dir)


@pytest.mark.slow
def test_cli_reports_a_non_utf8_number_met_during_training(tmp_path, small_data):
    rows = [line.encode() for line in sample_rows("movielens_train.csv", 16000)]
    fields = rows[14999].split(b"\t")
    fields[1] = b"3\xff4"  # beyond the first 1 MiB block: found while training
    rows[14999] = b"\t".join(fields)
    train = _write(tmp_path / "train.csv", b"".join(rows))
    edits = {"data_config.shuffle": False, "data_config.batch_size": 1000,
             "train_config.num_steps": 20}
    run = _cli("easy_rec.train", "--pipeline_config",
               os.path.join(SAMPLES, "deepfm_on_movielens.config"), "--model_dir",
               str(tmp_path / "m"), "--train_input_path", train, "--eval_input_path",
               small_data[1], "--edit_config_json", json.dumps(edits), cwd=tmp_path)
    assert _error_line(run) == (f"error: malformed CSV row at {train}:15000: column user_id: "
                                "value 3\ufffd4 is not a valid int64 (set "
                                "data_config.ignore_error: true to skip and count such rows)")


@pytest.mark.slow
def test_cli_gives_up_on_a_kafka_broker_never_reached(tmp_path):
    from kafka_broker import free_port

    edits = {"kafka_train_input.server": f"127.0.0.1:{free_port()}",
             "kafka_train_input.startup_timeout_secs": 2,
             "kafka_train_input.config_global": ["request.timeout.ms=1000"]}
    run = _cli("easy_rec.train", "--pipeline_config",
               os.path.join(SAMPLES, "deepfm_on_kafka.config"), "--model_dir",
               str(tmp_path / "m"), "--edit_config_json", json.dumps(edits), cwd=tmp_path)
    line = _error_line(run)
    assert "did not answer" in line and "(startup_timeout_secs: 2)" in line, line
