"""Loss reporting as EasyRec users read it: loss terms by name in the training log and the eval
results, progress lines with steps done / total and ETA."""
from __future__ import annotations

import json
import logging
import os
import re

import pytest
import tensorflow as tf
from conftest import SAMPLES, sample_rows
from pipeline_helpers import sample_config, sample_model_and_batch, train

from easy_rec.protos import dataset_pb2, train_pb2
from easy_rec.training.loss_report import EVAL_PREFIX, LossMeans, loss_line
from easy_rec.training.progress import count_rows, progress_line, total_steps

LOSS_LINE = re.compile(r"global step (\d+): lr = [0-9.e-]+, cross_entropy_loss = ([0-9.e-]+), "
                       r"regularization_loss = ([0-9.e-]+), total_loss = ([0-9.e-]+)")


@pytest.fixture(scope="module")
def deepfm_run(tmp_path_factory):
    """DeepFM on 1,280 rows, 2 epochs of batch 128 (20 steps, num_steps unset), log every 5."""
    tmp = tmp_path_factory.mktemp("loss_report")
    train_file, test_file = tmp / "train.csv", tmp / "test.csv"
    train_file.write_text("".join(sample_rows("movielens_train.csv", 1280)), encoding="utf-8")
    test_file.write_text("".join(sample_rows("movielens_test.csv", 300)), encoding="utf-8")
    config = sample_config("deepfm", str(tmp / "m"), str(train_file), str(test_file), **{
        "train_config.num_steps": 0, "data_config.num_epochs": 2,
        "train_config.log_step_count_steps": 5, "export_config.exporter_type": "none"})
    logger = logging.getLogger("easy_rec.training.trainer")
    handler = Records()
    logger.addHandler(handler)
    old_level = logger.level
    logger.setLevel(logging.INFO)
    try:
        trainer, results = train(config)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(old_level)
    return trainer, results, handler.messages


class Records(logging.Handler):
    """Keeps the messages of the log records it gets."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.messages: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.messages.append(record.getMessage())


def test_training_log_names_each_loss_term(deepfm_run):
    _, _, records = deepfm_run
    lines = [LOSS_LINE.fullmatch(r) for r in records if r.startswith("global step")]
    assert [int(m.group(1)) for m in lines] == [5, 10, 15, 20]
    for match in lines:
        ce, reg, total = (float(match.group(i)) for i in (2, 3, 4))
        assert reg > 0 and total == pytest.approx(ce + reg, rel=1e-4)


def test_progress_lines_count_steps_of_the_epochs(deepfm_run):
    _, _, records = deepfm_run
    progress = [r for r in records if r.startswith("step ")]
    assert [r.split(",")[0] for r in progress] == [
        "step 5/20 (25.0%)", "step 10/20 (50.0%)", "step 15/20 (75.0%)", "step 20/20 (100.0%)"]
    assert all(re.search(r"examples/s, ETA \d+:\d\d:\d\d$", r) for r in progress)
    assert progress[-1].endswith("ETA 0:00:00")


def test_eval_results_hold_each_loss_term(deepfm_run):
    trainer, results, _ = deepfm_run
    terms = {k: results[EVAL_PREFIX + k] for k in
             ("cross_entropy_loss", "regularization_loss", "total_loss")}
    assert terms["total_loss"] == pytest.approx(
        terms["cross_entropy_loss"] + terms["regularization_loss"], rel=1e-6)
    assert results["loss"] == pytest.approx(terms["cross_entropy_loss"], rel=1e-6)
    step_file = os.path.join(trainer.config.model_dir, "eval_results", "step_20.json")
    with open(step_file, encoding="utf-8") as f:
        written = json.load(f)
    assert written[EVAL_PREFIX + "total_loss"] == pytest.approx(terms["total_loss"])


def test_multi_task_terms_carry_the_tower_name():
    model, batch = sample_model_and_batch("simple_multi_task",
                                          os.path.join(SAMPLES, "data", "movielens_seq_test.csv"),
                                          64)
    outputs = model(batch, training=True)
    terms = model.loss_dict(outputs, batch)
    assert list(terms) == ["cross_entropy_loss_ctr", "cross_entropy_loss_top"]
    assert float(model.loss(outputs, batch)) == pytest.approx(
        float(tf.add_n(list(terms.values()))))
    assert list(model.regularization_dict(outputs)) == ["regularization_loss"]


def test_loss_line_and_means():
    assert loss_line(7, 0.001, {"cross_entropy_loss": 0.5, "total_loss": 0.51}) == \
        "global step 7: lr = 0.001, cross_entropy_loss = 0.5, total_loss = 0.51"
    means = LossMeans()
    means.add({"l2_loss": 1.0}, {"regularization_loss": 0.5}, rows=1)
    means.add({"l2_loss": 4.0}, {"regularization_loss": 0.5}, rows=3)
    assert means.result() == {"loss/loss/l2_loss": 3.25, "loss/loss/regularization_loss": 0.5,
                              "loss/loss/total_loss": 3.75, "loss": 3.25}


def test_total_steps_and_unknown_totals(tmp_path):
    rows = tmp_path / "rows.csv"
    rows.write_text("h\n" + "1,2\n" * 9 + "1,2", encoding="utf-8")
    csv = dataset_pb2.DatasetConfig.CSVInput
    assert count_rows([str(rows)], csv, with_header=True) == 10
    assert count_rows([str(rows)], dataset_pb2.DatasetConfig.TFRecordInput) is None
    data = dataset_pb2.DatasetConfig(batch_size=4, num_epochs=3)
    assert total_steps(train_pb2.TrainConfig(), data, lambda: 10) == 8  # ceil(30 / 4)
    data.drop_remainder = True
    assert total_steps(train_pb2.TrainConfig(), data, lambda: 10) == 7
    assert total_steps(train_pb2.TrainConfig(num_steps=50), data, lambda: None) == 50
    assert total_steps(train_pb2.TrainConfig(), data, lambda: None) is None
    assert progress_line(3, None, 2.0, 256.0) == "step 3/?, 2 steps/s, 256 examples/s, ETA ?"
    assert progress_line(30, 90, 2.0, 256.0).endswith("ETA 0:00:30")
