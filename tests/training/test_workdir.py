"""The trainer's output folders: unwritable ones fail before work starts; leftovers of killed
writers are removed at the next start, a live writer's are kept."""
from __future__ import annotations

import logging
import os
import subprocess
import sys

import pytest
from conftest import sample_rows
from fs_helpers import dead_pid, host_tag
from pipeline_helpers import exporting_sample_config

from easy_rec.training import trainer as trainer_module
from easy_rec.training.workdir import prepare_output_dirs, release_model_dir
from easy_rec.utils.writable import NotWritableError
from easy_rec.utils.writers import writer_tag


@pytest.fixture
def data(tmp_path):
    train = tmp_path / "train.csv"
    train.write_text("".join(sample_rows("movielens_train.csv", 50)), encoding="utf-8")
    return str(train), str(train)


@pytest.fixture
def live_pid():
    proc = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    yield proc.pid
    proc.kill()
    proc.wait()


@pytest.fixture
def no_model(monkeypatch):
    """Fails the test if the trainer starts building the model."""
    def build_model(*args, **kwargs):
        raise AssertionError("the model was built before the folders were checked")
    monkeypatch.setattr(trainer_module, "build_model", build_model)


def test_model_dir_under_a_regular_file_fails_before_the_model_is_built(tmp_path, data, no_model):
    (tmp_path / "file").write_text("x")
    model_dir = str(tmp_path / "file" / "model")
    with pytest.raises(NotWritableError, match=f"^model_dir {model_dir} is not writable: "):
        trainer_module.Trainer(exporting_sample_config("deepfm", model_dir, *data))


def test_unwritable_export_dir_fails_before_the_model_is_built(tmp_path, data, no_model):
    (tmp_path / "file").write_text("x")
    export_dir = str(tmp_path / "file" / "export")
    config = exporting_sample_config("deepfm", str(tmp_path / "model"), *data,
                           **{"export_config.export_dir": export_dir})
    with pytest.raises(NotWritableError, match=f"^export_config.export_dir {export_dir} is not"):
        trainer_module.Trainer(config)


def test_export_dir_is_not_needed_when_nothing_is_exported(tmp_path, data):
    (tmp_path / "file").write_text("x")
    config = exporting_sample_config("deepfm", str(tmp_path / "model"), *data, **{
        "export_config.export_dir": str(tmp_path / "file" / "export"),
        "export_config.exporter_type": "none"})
    prepare_output_dirs(config)
    release_model_dir(config.model_dir)


def _checkpoint_leftovers(model_dir) -> list[str]:
    """What a checkpoint save killed mid-write leaves behind."""
    (model_dir / "ckpt-7_temp").mkdir(parents=True)
    (model_dir / "ckpt-7_temp" / "part-00000-of-00001.data-00000-of-00001").write_bytes(b"x")
    (model_dir / "checkpoint.tmp0123456789abcdef").write_text("partial")
    return ["checkpoint.tmp0123456789abcdef", "ckpt-7_temp"]


def test_start_removes_leftovers_of_killed_writers(tmp_path, data, live_pid):
    model_dir = tmp_path / "model"
    _checkpoint_leftovers(model_dir)
    (model_dir / "ckpt-7.index").write_bytes(b"kept")
    (model_dir / f".writer-{host_tag(dead_pid())}").write_text("")
    final = model_dir / "export" / "final"
    (final / f".tmp-100-{host_tag(dead_pid())}").mkdir(parents=True)
    (final / f".tmp-101-{host_tag(live_pid)}").mkdir()
    (final / "99").mkdir()
    config = exporting_sample_config("deepfm", str(model_dir), *data)
    prepare_output_dirs(config)
    assert sorted(os.listdir(model_dir)) == [f".writer-{writer_tag()}", "ckpt-7.index", "export",
                                             "pipeline.config"]  # the config as run
    assert sorted(os.listdir(final)) == [f".tmp-101-{host_tag(live_pid)}", "99"]
    release_model_dir(str(model_dir))
    assert sorted(os.listdir(model_dir)) == ["ckpt-7.index", "export", "pipeline.config"]


def test_start_keeps_checkpoint_temporaries_of_a_live_writer(tmp_path, data, live_pid, caplog):
    model_dir = tmp_path / "model"
    leftovers = _checkpoint_leftovers(model_dir)
    (model_dir / f".writer-{host_tag(live_pid)}").write_text("")
    with caplog.at_level(logging.WARNING):
        prepare_output_dirs(exporting_sample_config("deepfm", str(model_dir), *data))
    assert set(leftovers) < set(os.listdir(model_dir))
    assert f"also written by {host_tag(live_pid)}" in caplog.text
    release_model_dir(str(model_dir))
