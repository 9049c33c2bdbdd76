"""Train -> evaluate -> export -> serve the SavedModel in a process that never imports easy_rec."""
from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES
from pipeline_helpers import exporting_sample_config, train

from easy_rec.export.exporter import list_exports
from easy_rec.input.column_plan import build_column_plan
from easy_rec.input.reader import build_reader

SERVE_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
assert not any(m.startswith("easy_rec") for m in sys.modules)
features = json.load(open(sys.argv[2]))
model = tf.saved_model.load(sys.argv[1])
fn = model.signatures["serving_default"]
specs = fn.structured_input_signature[1]
inputs = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in features.items()}
out = fn(**inputs)
assert not any(m.startswith("easy_rec") for m in sys.modules)
json.dump({k: v.numpy().tolist() for k, v in out.items()}, open(sys.argv[3], "w"))
"""


@pytest.mark.slow
@pytest.mark.parametrize("model", ["deepfm", "wide_and_deep", "multi_tower"])
def test_train_eval_export_and_serve(model, tmp_path, small_data):
    model_dir = str(tmp_path / "model")
    config = exporting_sample_config(model, model_dir, *small_data, **{"train_config.num_steps": 200})
    trainer, results = train(config)

    assert int(trainer.global_step) == 200
    assert 0.5 < results["auc"] <= 1.0
    with open(os.path.join(model_dir, "eval_results", "step_200.json")) as f:
        assert json.load(f)["auc"] == pytest.approx(results["auc"])
    exports = list_exports(os.path.join(model_dir, "export", "final"))
    assert len(exports) == 1
    export_dir = os.path.join(model_dir, "export", "final", exports[0])

    reader = build_reader(config.data_config, small_data[1], build_column_plan(config),
                          trainer.model.serving_input_names)
    batch = next(iter(reader.make_dataset(64, num_epochs=1)))
    raw = {k: v for k, v in batch.items() if k in trainer.model.serving_input_names}
    expected = trainer.model(raw, training=False)

    features_json = tmp_path / "features.json"
    features_json.write_text(json.dumps(
        {k: [x.decode() if isinstance(x, bytes) else x for x in v.numpy().tolist()]
         for k, v in raw.items()}))
    out_json = tmp_path / "out.json"
    subprocess.run([sys.executable, "-c", SERVE_SCRIPT, export_dir, str(features_json),
                    str(out_json)], check=True, cwd=str(tmp_path))
    served = json.loads(out_json.read_text())
    assert set(served) == {"probs", "logits"}
    np.testing.assert_allclose(served["probs"], expected["probs"].numpy(), rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(served["logits"], expected["logits"].numpy(), rtol=1e-5, atol=1e-5)


def test_exported_graph_has_only_stock_ops(tmp_path, small_data):
    model_dir = str(tmp_path / "model")
    config = exporting_sample_config("deepfm", model_dir, *small_data, **{"train_config.num_steps": 5})
    train(config)
    export_root = os.path.join(model_dir, "export", "final")
    path = os.path.join(export_root, list_exports(export_root)[0])
    from tensorflow.core.protobuf import saved_model_pb2

    saved = saved_model_pb2.SavedModel()
    with open(os.path.join(path, "saved_model.pb"), "rb") as f:
        saved.ParseFromString(f.read())
    graph = saved.meta_graphs[0].graph_def
    ops = {n.op for n in graph.node}
    for fn in graph.library.function:
        ops |= {n.op for n in fn.node_def}
    assert not ops & {"PyFunc", "EagerPyFunc", "PyFuncStateless"}
    registered = set(tf.raw_ops.__dict__)
    assert ops <= registered, ops - registered


@pytest.mark.slow
def test_cli_train_eval_export(tmp_path, small_data):
    model_dir = str(tmp_path / "model")
    edits = json.dumps({"train_config.num_steps": 30, "data_config.num_epochs": 0,
                        "data_config.batch_size": 64})
    common = ["--pipeline_config", os.path.join(SAMPLES, "deepfm_on_movielens.config"),
              "--model_dir", model_dir, "--edit_config_json", edits]
    eval_input = ["--eval_input_path", small_data[1]]
    env = dict(os.environ, PYTHONPATH=REPO)
    run = subprocess.run([sys.executable, "-m", "easy_rec.train", *common, "--train_input_path",
                          small_data[0], *eval_input], env=env,
                         capture_output=True, text=True, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    trained = json.loads(run.stdout.strip().splitlines()[-1])
    assert trained["global_step"] == 30

    run = subprocess.run([sys.executable, "-m", "easy_rec.eval", *common, *eval_input], env=env,
                         capture_output=True, text=True, cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    evaluated = json.loads(run.stdout.strip().splitlines()[-1])
    assert evaluated["global_step"] == 30
    assert evaluated["auc"] == pytest.approx(trained["auc"], abs=1e-9)

    run = subprocess.run([sys.executable, "-m", "easy_rec.export", *common, "--export_dir",
                          str(tmp_path / "exported")], env=env, capture_output=True, text=True,
                         cwd=str(tmp_path))
    assert run.returncode == 0, run.stderr[-3000:]
    assert os.path.exists(os.path.join(run.stdout.strip().splitlines()[-1], "saved_model.pb"))


@pytest.mark.slow
def test_check_config_only(tmp_path):
    good = os.path.join(SAMPLES, "deepfm_on_movielens.config")
    env = dict(os.environ, PYTHONPATH=REPO)
    ok = subprocess.run([sys.executable, "-m", "easy_rec.train", "--pipeline_config", good,
                         "--check_config_only"], env=env, capture_output=True, text=True)
    assert ok.returncode == 0, ok.stderr
    bad = tmp_path / "bad.config"
    text = open(good).read().replace('feature_names: ["user_id", "movie_id", "job_id"',
                                     'feature_names: ["user_idx", "movie_id", "job_id"', 1)
    bad.write_text(text)
    fail = subprocess.run([sys.executable, "-m", "easy_rec.train", "--pipeline_config", str(bad),
                           "--check_config_only"], env=env, capture_output=True, text=True)
    assert fail.returncode == 1
    line = next(i for i, ln in enumerate(text.splitlines(), 1) if "user_idx" in ln)
    assert f"{bad}:{line}:" in fail.stderr
    assert "user_idx" in fail.stderr
