"""scripts/bench/criteo_avazu_bench.py without training, on a tiny Criteo-shaped file set: the
folds, the rank AUC and the one recipe every model's config gets (two Adam blocks, the epoch
cap, early stopping, MLPs without batch normalisation)."""
from __future__ import annotations

import argparse
import importlib.util
import os
import random

import numpy as np
import pytest
from conftest import REPO

from easy_rec.pipeline import parse_pipeline_config_text

_spec = importlib.util.spec_from_file_location(
    "criteo_avazu_bench", os.path.join(REPO, "scripts", "bench", "criteo_avazu_bench.py"))
bench = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(bench)


@pytest.fixture
def criteo_dir(tmp_path, monkeypatch):
    """bench.DATA holding a 60-row criteo-sample (label, 13 integers, 26 categories)."""
    rng = random.Random(0)
    folder = tmp_path / "criteo-sample"
    folder.mkdir()
    for name, count in (("train.txt", 40), ("dev.txt", 10), ("test.txt", 10)):
        rows = ["\t".join([str(rng.randint(0, 1))] + [str(rng.randint(0, 50)) for _ in range(13)]
                          + [rng.choice("abc") for _ in range(26)]) for _ in range(count)]
        (folder / name).write_text("\n".join(rows) + "\n", encoding="utf-8")
    monkeypatch.setattr(bench, "DATA", str(tmp_path))
    return tmp_path


def test_folds_split_every_row_once(criteo_dir):
    rows = bench.pooled_rows("criteo")
    assert len(rows) == 60
    tests = []
    for fold in range(3):
        parts = bench.fold_parts(rows, fold, 3)
        assert sorted(sum(parts.values(), [])) == sorted(rows)
        assert len(parts["test"]) == 20 and parts["validation"]
        tests += parts["test"]
    assert sorted(tests) == sorted(rows)


def test_auc_by_ranks_counts_ties_as_half():
    labels = np.array([0, 0, 1, 1, 0, 1])
    scores = np.array([0.1, 0.5, 0.5, 0.9, 0.2, 0.3])
    # positive/negative pairs ordered right: 0.5>0.1,0.2; 0.9>all; 0.3>0.1,0.2; the 0.5 tie half
    assert bench.auc(labels, scores) == pytest.approx((2 + 0.5 + 3 + 2) / 9)


def test_every_model_gets_the_same_recipe(criteo_dir, tmp_path):
    options = argparse.Namespace(epochs=bench.EPOCHS, evals_per_epoch=bench.EVALS_PER_EPOCH,
                                 mlp_dropout=0.0, mlp_batch_norm=0,
                                 embedding_lr=bench.EMBEDDING_LR)
    spec = bench.dataset_spec("criteo", 0, 3, str(tmp_path))
    for model in bench.MODELS:
        config = parse_pipeline_config_text(
            bench.config_text(model, spec, str(tmp_path / model), 1, options),
            path=str(tmp_path / f"{model}.config")).config
        rates = [block.adam_optimizer.learning_rate.constant_learning_rate.learning_rate
                 for block in config.train_config.optimizer_config]
        assert rates == pytest.approx([bench.EMBEDDING_LR, bench.DENSE_LR]), model
        assert config.data_config.num_epochs == bench.EPOCHS
        assert config.export_config.enable_early_stop
        assert config.export_config.max_check_steps == bench.PATIENCE * bench.steps_per_epoch(spec)
        groups = {g.group_name for g in config.model_config.feature_groups}
        if model in ("lr", "wide_and_deep"):
            assert ("deep" in groups) == (model == "wide_and_deep")
        if model == "wide_and_deep":
            assert not config.model_config.wide_and_deep.dnn.use_bn
