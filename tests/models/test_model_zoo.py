"""Every sample config trains, learns, evaluates and exports; every export serves in a fresh
process that never imports easy_rec; every registered model has a sample config and a docs page.
"""
from __future__ import annotations

import glob
import json
import os
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf
from conftest import REPO, SAMPLES

from easy_rec.models.registry import get_model_class, registered_models
from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.trainer import Trainer

TRAIN_ROWS, EVAL_ROWS, SERVE_ROWS = 3000, 500, 16
DOCS_MODELS = os.path.join(REPO, "docs", "models")
SAMPLE_SUFFIX = "_on_movielens.config"


def zoo_configs() -> dict[str, str]:
    """Sample name (file stem without '_on_movielens') -> path, for file-input samples."""
    configs = {}
    for path in sorted(glob.glob(os.path.join(SAMPLES, f"*{SAMPLE_SUFFIX}"))):
        configs[os.path.basename(path)[: -len(SAMPLE_SUFFIX)]] = path
    return configs


CONFIGS = zoo_configs()


def _slice(path: str, rows: int, out: str) -> str:
    with open(os.path.join(REPO, path), encoding="utf-8") as src, \
            open(out, "w", encoding="utf-8") as dst:
        for _, line in zip(range(rows), src):
            dst.write(line)
    return out


def _batch_loss(trainer: Trainer, batch) -> float:
    """The training objective on a fixed batch: training mode with fixed dropout masks, batch
    norm on the batch's statistics and its moving averages left as they were. (Inference mode
    is no measure of 40 steps: the moving averages still lag the fast-growing activations of
    EasyRec's small embedding initialisation.)"""
    model = trainer.model
    kept = [v.numpy() for v in model.non_trainable_variables]
    tf.random.set_seed(11)
    loss = float(model.loss(model(batch, training=True), batch))
    for variable, value in zip(model.non_trainable_variables, kept):
        variable.assign(value)
    return loss


@dataclass
class TrainedSample:
    """What one short training run of a sample left: losses on a fixed batch before and after,
    the final metrics, the exports, and a serving case (inputs and in-process outputs)."""

    before: float
    after: float
    results: dict
    exports: list[str]
    case: dict


def _train(sample: str, work_dir) -> TrainedSample:
    raw = load_pipeline_config(CONFIGS[sample]).config
    train = _slice(raw.train_input_path, TRAIN_ROWS, str(work_dir / "train.csv"))
    test = _slice(raw.eval_input_path, EVAL_ROWS, str(work_dir / "test.csv"))
    config = load_pipeline_config(CONFIGS[sample], {
        "model_dir": str(work_dir / "model"), "train_input_path": train, "eval_input_path": test,
        "data_config.batch_size": 128, "data_config.num_epochs": 0,
        "train_config.num_steps": 40, "train_config.save_checkpoints_steps": 1000,
        "train_config.log_step_count_steps": 20, "export_config.exporter_type": "final"}).config
    tf.random.set_seed(7)
    trainer = Trainer(config, base_dir=SAMPLES)
    batch = next(iter(trainer.evaluator._reader.make_dataset(256, num_epochs=1, shuffle=False)))
    before = _batch_loss(trainer, batch)
    results = trainer.train()
    after = _batch_loss(trainer, batch)
    exports = glob.glob(os.path.join(config.model_dir, "export", "final", "[0-9]*"))
    serve_inputs = {name: batch[name][:SERVE_ROWS] for name in trainer.model.serving_input_names}
    expected = trainer.model.serving_outputs(trainer.model(serve_inputs, training=False))
    case = {
        "dir": exports[0] if exports else None,
        "inputs": {k: _jsonable(v) for k, v in serve_inputs.items()},
        "expected": {k: _jsonable(v) for k, v in expected.items()},
    }
    return TrainedSample(before, after, results, exports, case)


@pytest.fixture(scope="module")
def zoo(tmp_path_factory) -> Callable[[str], TrainedSample]:
    """Trains a sample on first request and keeps the result for the module's other tests,
    so each test also runs alone (it trains what it needs)."""
    trained: dict[str, TrainedSample] = {}

    def get(sample: str) -> TrainedSample:
        if sample not in trained:
            trained[sample] = _train(sample, tmp_path_factory.mktemp(sample))
        return trained[sample]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("sample", sorted(CONFIGS))
def test_sample_trains_learns_and_exports(sample, zoo):
    run = zoo(sample)
    assert run.after < run.before, f"{sample}: loss {run.before:.4f} -> {run.after:.4f} after 40 steps"
    assert run.results and all(np.isfinite(v) for v in run.results.values()
                               if isinstance(v, float))
    assert len(run.exports) == 1


@pytest.mark.slow
def test_multi_head_samples_report_a_metric_per_head(zoo):
    assert {"auc_ctr", "auc_top"} <= set(zoo("simple_multi_task").results)
    assert {"auc_light", "auc_booster"} <= set(zoo("rocket_launching").results)


def _jsonable(tensor: tf.Tensor) -> list:
    values = tensor.numpy()
    if values.dtype == object:
        return [v.decode("utf-8") for v in values.reshape(-1)]
    return values.tolist()


_SERVE_SCRIPT = r"""
import json, sys
import numpy as np
import tensorflow as tf
cases = json.load(open(sys.argv[1]))
assert "easy_rec" not in sys.modules
for name, case in cases.items():
    serve = tf.saved_model.load(case["dir"]).signatures["serving_default"]
    specs = serve.structured_input_signature[1]
    inputs = {k: tf.constant(v, dtype=specs[k].dtype) for k, v in case["inputs"].items()}
    outputs = serve(**inputs)
    for key, want in case["expected"].items():
        got = outputs[key].numpy()
        np.testing.assert_allclose(got, np.asarray(want, dtype=got.dtype), rtol=1e-4, atol=1e-5,
                                   err_msg=f"{name}: {key}")
    assert "easy_rec" not in sys.modules
print("served", len(cases))
"""


@pytest.mark.slow
def test_exports_serve_in_a_fresh_process(zoo, tmp_path):
    cases_by_sample = {sample: zoo(sample).case for sample in sorted(CONFIGS)}
    assert all(case["dir"] for case in cases_by_sample.values())
    cases = tmp_path / "cases.json"
    cases.write_text(json.dumps(cases_by_sample))
    script = tmp_path / "serve.py"
    script.write_text(_SERVE_SCRIPT)
    result = subprocess.run([sys.executable, str(script), str(cases)], capture_output=True,
                            text=True, cwd=str(tmp_path), timeout=600,
                            env={**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"})
    assert result.returncode == 0, result.stderr[-4000:]
    assert f"served {len(cases_by_sample)}" in result.stdout


def test_every_registered_model_has_a_sample_and_a_docs_page():
    """Zoo models: samples/<name>_on_movielens.config and docs/models/<name>.md; backbone
    models (RankModel, MultiTaskModel, MatchModel): samples/backbone/ and docs/backbone.md."""
    sampled = {}
    for sample, path in CONFIGS.items():
        model_class = load_pipeline_config(path).config.model_config.model_class
        sampled[get_model_class(model_class)] = sample
        assert os.path.isfile(os.path.join(DOCS_MODELS, f"{sample}.md")), \
            f"docs/models/{sample}.md is missing"
    for path in glob.glob(os.path.join(SAMPLES, "backbone", f"*{SAMPLE_SUFFIX}")):
        model_class = load_pipeline_config(path).config.model_config.model_class
        sampled[get_model_class(model_class)] = path
    assert os.path.isfile(os.path.join(REPO, "docs", "backbone.md"))
    missing = [name for name in registered_models() if get_model_class(name) not in sampled]
    assert not missing, f"registered models without a samples/*{SAMPLE_SUFFIX}: {missing}"
