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

from easy_rec.export.exporter import list_exports, remove_dead_temps
from easy_rec.export.info import exported_step
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


def test_asset_files_are_copied_into_the_exports_assets(tmp_path):
    # EasyRec adds export_config.asset_files to the SavedModel's assets ('!' prefix dropped)
    model, batch = sample_model_and_batch("deepfm", ROWS, 8)
    model(batch, training=False)
    (tmp_path / "fg.json").write_text('{"features": []}')
    (tmp_path / "extra").mkdir()
    (tmp_path / "extra" / "vocab.txt").write_text("a\nb\n")
    config = _config(str(tmp_path / "model"))
    config.export_config.asset_files.extend(["fg.json", "!extra/vocab.txt"])
    path = ExportPolicy(model, config, step=lambda: 1, base_dir=str(tmp_path)).export("final")
    assert sorted(os.listdir(os.path.join(path, "assets"))) == [
        "fg.json", "pipeline.config", "vocab.txt"]
    assert open(os.path.join(path, "assets", "vocab.txt")).read() == "a\nb\n"


@pytest.mark.parametrize("assets, words", [
    (["a/x.txt", "b/x.txt"], "assets/x.txt in the export, which is already 'a/x.txt'"),
    (["conf/pipeline.config"], "which is already the pipeline config of the export"),
    (["no_such_file.json"], "no_such_file.json does not exist"),
])
def test_asset_files_checks(tmp_path, assets, words):
    from easy_rec.config.errors import ConfigError
    from easy_rec.config.loader import load_pipeline_config
    from easy_rec.export.config_checks import check_asset_files, check_export_config

    with open(os.path.join(SAMPLES, "deepfm_on_movielens.config"), encoding="utf-8") as f:
        text = f.read()
    lines = "".join(f'  asset_files: "{name}"\n' for name in assets)
    text = text.replace('exporter_type: "final"\n', 'exporter_type: "final"\n' + lines)
    path = tmp_path / "x.config"
    path.write_text(text, encoding="utf-8")
    for name in assets[:-1]:
        os.makedirs(tmp_path / os.path.dirname(name), exist_ok=True)
        (tmp_path / name).write_text("")
    with pytest.raises(ConfigError) as info:
        load_pipeline_config(str(path), checks=(check_export_config, check_asset_files))
    assert words in info.value.reason and info.value.field.startswith("export_config.asset_files")


def test_best_exporter_compares_the_first_eval_metric_when_its_metric_is_missing(tmp_path):
    # EasyRec's uniter_on_movielens_only_image_feature.config names 'gauc' but evaluates auc:
    # EasyRec would fail with a KeyError at its second export; easy_rec warns and compares auc
    model, batch = sample_model_and_batch("deepfm", ROWS, 8)
    model(batch, training=False)
    config = _config(str(tmp_path / "model"))
    config.export_config.exporter_type = "best"
    config.export_config.best_exporter_metric = "mse"  # not among the sample's eval metrics
    step = [1]
    policy = ExportPolicy(model, config, step=lambda: step[0])
    policy.after_evaluation({"auc": 0.6}, final=False)
    step[0] = 2
    policy.after_evaluation({"auc": 0.5}, final=False)
    step[0] = 3
    policy.after_evaluation({"auc": 0.7}, final=False)
    best = os.path.join(str(tmp_path / "model"), "export", "best")
    assert [exported_step(os.path.join(best, e)) for e in list_exports(best)] == [3]


def test_multi_value_inputs_and_export_features(tmp_path):
    """auto_multi_value: list columns are [batch, None] inputs (also for batch prediction,
    which splits the joined strings of input files); export_features echoes the inputs."""
    import numpy as np
    import tensorflow as tf

    from easy_rec.export.exporter import export_saved_model
    from easy_rec.serving.signature import ServingSignature

    model, batch = sample_model_and_batch("deepfm", ROWS, 4)
    inputs = {name: batch[name] for name in model.serving_input_names}
    expected = model(inputs, training=False)["probs"].numpy()
    config = _config(str(tmp_path))
    config.export_config.auto_multi_value = True
    config.export_config.export_features = True
    path = export_saved_model(model, config, str(tmp_path / "lists"), 1)
    serve = tf.saved_model.load(path).signatures["serving_default"]
    specs = serve.structured_input_signature[1]
    # the two TagFeature columns of the sample (hash_bucket_size: strings); the others stay [batch]
    assert {n for n, s in specs.items() if s.shape.rank == 2} == {"genres", "title"}
    assert specs["genres"].dtype == tf.string and specs["user_id"].shape.rank == 1
    lists = dict(inputs)
    for name, separator in (("genres", "|"), ("title", " ")):
        rows = [v.decode().split(separator) for v in inputs[name].numpy()]
        width = max(map(len, rows))
        lists[name] = tf.constant([r + [""] * (width - len(r)) for r in rows])
    outputs = serve(**lists)
    np.testing.assert_allclose(outputs["probs"].numpy(), expected, rtol=1e-6)
    # export_features: numbers as strings, the values of a list input joined by ","
    assert outputs["feature_user_id"].dtype == tf.string
    assert list(outputs["feature_user_id"].numpy()) == list(tf.as_string(inputs["user_id"]).numpy())
    genres = [v.decode().replace("|", ",") for v in inputs["genres"].numpy()]
    assert [v.decode().rstrip(",") for v in outputs["feature_genres"].numpy()] == genres
    # batch prediction reads the joined strings of the input files and splits them
    signature = ServingSignature(path)
    assert signature.input_dtypes["genres"] == tf.string
    numpy_inputs = {name: value.numpy() for name, value in inputs.items()}
    np.testing.assert_allclose(signature(numpy_inputs, ["probs"])["probs"], expected, rtol=1e-6)


def test_multi_value_fields_must_be_list_columns(tmp_path):
    from easy_rec.config.errors import ConfigError
    from easy_rec.pipeline import load_pipeline_config

    base = open(os.path.join(SAMPLES, "deepfm_on_movielens.config"), encoding="utf-8").read()
    path = tmp_path / "c.config"
    for name, ok in (("genres", True), ("user_id", False)):
        path.write_text(base + f"export_config {{ multi_value_fields {{ input_name: '{name}' }} }}",
                        encoding="utf-8")
        if ok:
            load_pipeline_config(str(path))
        else:
            with pytest.raises(ConfigError, match="'user_id' is not read as a list"):
                load_pipeline_config(str(path))
