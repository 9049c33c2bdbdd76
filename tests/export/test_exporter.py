"""Exports record their global step, are not repeated for the same step, and the temp dirs of
killed exports are removed at the next start while a live export's stay."""
from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest
from conftest import REPO, SAMPLES
from fs_helpers import dead_pid, host_tag
from google.protobuf import text_format
from pipeline_helpers import sample_model_and_batch

from easy_rec.export.exporter import exported_step, list_exports, remove_dead_temps
from easy_rec.export.policy import ExportPolicy
from easy_rec.protos import pipeline_pb2
from easy_rec.utils.pipeline_files import saved_model_config_path

TESTS = os.path.dirname(os.path.abspath(__file__ + "/.."))
ROWS = os.path.join(SAMPLES, "data", "movielens_test.csv")


def test_policy_exports_a_global_step_once_per_kind(tmp_path):
    model, batch = sample_model_and_batch("deepfm", ROWS, 8)
    model(batch, training=False)
    final = tmp_path / "export" / "final"
    (final / f".tmp-1-{host_tag(dead_pid())}").mkdir(parents=True)
    step = [5]
    config = _config(str(tmp_path))
    policy = ExportPolicy(model, config, step=lambda: step[0])
    first = policy.export("final")
    assert os.listdir(final) == [os.path.basename(first)]  # the killed export's temp is gone
    assert exported_step(first) == 5
    # the config it was made from travels with the export, as in EasyRec's exports
    with open(saved_model_config_path(first), encoding="utf-8") as f:
        assert text_format.Parse(f.read(), pipeline_pb2.EasyRecConfig()) == config
    assert policy.export("final") == first
    assert list_exports(str(final)) == [os.path.basename(first)]
    step[0] = 6
    second = policy.export("final")
    assert second != first and exported_step(second) == 6
    assert len(list_exports(str(final))) == 2


def _config(model_dir: str):
    from easy_rec.pipeline import load_pipeline_config

    path = os.path.join(SAMPLES, "deepfm_on_movielens.config")
    return load_pipeline_config(path, {"model_dir": model_dir}).config


EXPORT_FOREVER = r"""
import sys
sys.path.insert(0, sys.argv[1])
from pipeline_helpers import sample_model_and_batch
from easy_rec.export.exporter import export_saved_model
from easy_rec.pipeline import load_pipeline_config
model, batch = sample_model_and_batch("deepfm", sys.argv[2], 8)
model(batch, training=False)
config = load_pipeline_config(sys.argv[3]).config
while True:
    export_saved_model(model, config, sys.argv[4], 1, keep=1)
"""


def _temps(root: str) -> list[str]:
    return [n for n in os.listdir(root) if n.startswith(".tmp-")] if os.path.isdir(root) else []


@pytest.mark.slow
def test_temp_dir_of_an_export_killed_mid_write_is_removed_live_one_kept(tmp_path):
    root = str(tmp_path / "export")
    proc = subprocess.Popen(
        [sys.executable, "-c", EXPORT_FOREVER, TESTS, ROWS,
         os.path.join(SAMPLES, "deepfm_on_movielens.config"), root],
        env=dict(os.environ, PYTHONPATH=REPO), stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.monotonic() + 300
        while not _temps(root) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        proc.send_signal(signal.SIGSTOP)  # mid-write: the writer is alive, its temp dir exists
        temps = _temps(root)
        assert temps, proc.stderr.read().decode()[-2000:] if proc.poll() is not None else ""
        assert temps[0].endswith(f"-{host_tag(proc.pid)}")
        remove_dead_temps(root)
        assert _temps(root) == temps
    finally:
        proc.kill()
        proc.wait()
    remove_dead_temps(root)
    assert _temps(root) == []
