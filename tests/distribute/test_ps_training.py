"""Parameter-server training through the launcher: `easy_rec.distribute.launch` starts 1 chief
+ 2 workers + 2 ps, each running `python -m easy_rec.train`, on a DeepFM MovieLens slice.
One cluster run serves every test here; the same config trained in this process with the same
seed is the reference. The cluster starts from that single-process run's checkpoint of step
WARM (copied into its model_dir): a single-process checkpoint warm-starts the distributed job,
and both runs train on from the same weights."""
from __future__ import annotations

import glob
import json
import os
import re
import shutil

import pytest
from cluster_helpers import run_launch
from conftest import SAMPLES, sample_rows

pytestmark = pytest.mark.slow

CONFIG = os.path.join(SAMPLES, "deepfm_on_movielens.config")
STEPS = 120   # ~2 epochs of the slice: near the top of the eval AUC curve, where it is flat
WARM = 20     # the single-process steps the cluster starts from


def _edits(root: str, model_dir: str) -> dict:
    return {"model_dir": model_dir, "train_input_path": f"{root}/train.csv",
            "eval_input_path": f"{root}/test.csv", "data_config.batch_size": 128,
            "data_config.num_epochs": 0, "train_config.num_steps": STEPS,
            "train_config.save_checkpoints_steps": STEPS,
            "train_config.log_step_count_steps": 40, "train_config.seed": 7}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("ps")
    (root / "train.csv").write_text("".join(sample_rows("movielens_train.csv", 8000)))
    (root / "test.csv").write_text("".join(sample_rows("movielens_test.csv", 1500)))
    return str(root)


def _task_lines(text: str, task: str) -> list[str]:
    """The lines the launcher copied from `task` (e.g. "chief:0"), prefix removed."""
    prefix = f"[{task}] "
    return [line[len(prefix):] for line in text.splitlines() if line.startswith(prefix)]


@pytest.fixture(scope="module")
def single_job(data):
    """The same config trained in this process, checkpointed every WARM steps (all kept; no
    export): its final eval results."""
    from easy_rec.pipeline import load_pipeline_config
    from easy_rec.training.trainer import Trainer

    edits = {**_edits(data, os.path.join(data, "single")),
             "train_config.save_checkpoints_steps": WARM, "train_config.keep_checkpoint_max": 0,
             "export_config.exporter_type": "none"}
    config = load_pipeline_config(CONFIG, edits).config
    return Trainer(config, base_dir=SAMPLES).train()


@pytest.fixture(scope="module")
def ps_job(data, single_job):
    """The finished launcher run, started from the single-process checkpoint of step WARM:
    (exit status, stdout, stderr, model_dir, the chief's JSON summary)."""
    del single_job  # its checkpoints are written
    model_dir = os.path.join(data, "ps_model")
    os.makedirs(model_dir)
    warm = glob.glob(os.path.join(data, "single", f"ckpt-{WARM}.*"))
    assert len(warm) == 2, warm   # .index and one data file
    for path in warm:
        shutil.copy(path, model_dir)
    with open(os.path.join(model_dir, "checkpoint"), "w", encoding="utf-8") as f:
        f.write(f'model_checkpoint_path: "ckpt-{WARM}"\n')
    code, stdout, stderr = run_launch(
        ["--num_workers", "2", "--num_ps", "2", "--max_restarts", "0"],
        ["--pipeline_config", CONFIG, "--edit_config_json", json.dumps(_edits(data, model_dir))],
        data, timeout=420)
    assert code == 0, stderr[-4000:]
    summaries = [json.loads(line) for line in _task_lines(stdout, "chief:0")
                 if line.startswith("{")]
    assert len(summaries) == 1, stdout[-3000:]
    return code, stdout, stderr, model_dir, summaries[0]


def test_a_ps_job_trains_through_the_launcher(ps_job):
    _, _, stderr, model_dir, summary = ps_job
    assert summary["global_step"] == STEPS
    assert os.path.exists(os.path.join(model_dir, "checkpoint"))
    assert "easy_rec.distribute.launch succeeded" in stderr, stderr[-3000:]
    ended = re.findall(r"^  ((?:chief|worker|ps):\d+)\s+(\d+)\s+\d+\s+(.*)$", stderr, re.M)
    assert sorted(task for task, _, _ in ended) == ["chief:0", "ps:0", "ps:1", "worker:0",
                                                  "worker:1"], stderr[-3000:]
    assert all(starts == "1" and how != "running" for _, starts, how in ended), ended
    assert [how for task, _, how in ended if task == "chief:0"] == ["exit 0"]


def test_ps_job_reaches_single_process_auc(ps_job, single_job):
    summary = ps_job[-1]
    assert abs(summary["auc"] - single_job["auc"]) <= 0.02, (summary["auc"], single_job["auc"])


def test_tables_are_sharded_over_both_ps_tasks(ps_job):
    log = "\n".join(_task_lines(ps_job[2], "chief:0"))
    line = re.search(r"table user_id\S* \[12000, 16\]: 2 shard\(s\) on (.*)", log)
    assert line, log[-3000:]
    assert "/job:ps/replica:0/task:0" in line.group(1) and "/job:ps/replica:0/task:1" in line.group(1)
    for worker in ("worker:0", "worker:1"):  # both workers' servers ran in the job
        assert any("serving at" in line for line in _task_lines(ps_job[2], worker))


def test_a_single_process_checkpoint_warm_starts_the_ps_job(ps_job):
    log = "\n".join(_task_lines(ps_job[2], "chief:0"))
    assert f"resumed from {ps_job[3]}/ckpt-{WARM} at global step {WARM}" in log, log[-3000:]
    assert "each worker reads its share from the start again" in log
    steps = [int(s) for s in re.findall(r"trainer: global step (\d+):", log)]
    assert steps and WARM < steps[0] <= WARM + 40 and steps[-1] == STEPS, steps
    assert ps_job[4]["global_step"] == STEPS


def test_distributed_checkpoint_holds_whole_tables(ps_job):
    import tensorflow as tf

    model_dir = ps_job[3]
    shapes = dict(tf.train.list_variables(tf.train.latest_checkpoint(model_dir)))
    tables = {k: v for k, v in shapes.items() if "user_id" in k and k.endswith("VARIABLE_VALUE")
              and "optimizer" not in k}
    assert [12000, 16] in tables.values(), tables
    assert not any("part_" in k for k in shapes)


def test_distributed_checkpoint_export_served_by_plain_tf(ps_job, data):
    """The chief's export (from the distributed checkpoint) loads in plain TensorFlow and
    scores like the model a single process restores from that checkpoint."""
    import numpy as np
    import tensorflow as tf

    from easy_rec.input.reader import build_reader
    from easy_rec.models.builder import model_column_plan
    from easy_rec.pipeline import load_pipeline_config
    from easy_rec.training.restore import load_trained_model

    model_dir, summary = ps_job[3], ps_job[4]
    exports = glob.glob(os.path.join(model_dir, "export", "final", "*", "saved_model.pb"))
    assert len(exports) == 1
    config = load_pipeline_config(CONFIG, _edits(data, model_dir)).config
    model, step, _ = load_trained_model(config, base_dir=SAMPLES)
    assert step == summary["global_step"]
    reader = build_reader(config.data_config, f"{data}/test.csv", model_column_plan(config, model))
    batch = next(iter(reader.make_dataset(64)))
    expected = model(batch, training=False)["probs"].numpy()
    served = tf.saved_model.load(os.path.dirname(exports[0])).signatures["serving_default"]
    inputs = {k: batch[k] for k in served.structured_input_signature[1]}
    got = served(**inputs)["probs"].numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-6)
