"""Two optimizer_config blocks in EasyRec's order: the first trains the embeddings (the wide
part only for WideAndDeep), the second every other variable."""
from __future__ import annotations

import numpy as np
import pytest
from conftest import SAMPLES, sample_rows
from pipeline_helpers import sample_config

from easy_rec.training.trainer import Trainer


def _sgd(rate: float) -> dict:
    return {"sgd_optimizer": {"learning_rate": {"constant_learning_rate": {"learning_rate": rate}}}}


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    root = tmp_path_factory.mktemp("optimizer_order")
    path = root / "train.csv"
    path.write_text("".join(sample_rows("movielens_train.csv", 256)), encoding="utf-8")
    return str(path)


def _two_steps(model: str, data: str, model_dir: str):
    """Trains 2 steps with optimizer_config [SGD rate 0, SGD rate 0.5]; (trainer, values
    of every trainable variable before training)."""
    config = sample_config(model, model_dir, data, "", **{
        "eval_input_path": "", "train_config.num_steps": 2, "data_config.batch_size": 64,
        "train_config.optimizer_config": [_sgd(0.0), _sgd(0.5)]})
    trainer = Trainer(config, base_dir=SAMPLES)
    before = {v.ref(): v.numpy() for v in trainer.model.trainable_variables}
    trainer.train()
    return trainer, before


def _moved(variables, before) -> list[bool]:
    return [not np.array_equal(v.numpy(), before[v.ref()]) for v in variables]


@pytest.mark.parametrize("model", ["deepfm", "wide_and_deep"])
def test_the_first_optimizer_trains_the_embeddings_and_the_second_the_rest(
        model, data, tmp_path):
    trainer, before = _two_steps(model, data, str(tmp_path / model))
    layer = trainer.model.feature_layer
    first = {v.ref() for v in trainer.model.first_optimizer_variables()}
    rest = [v for v in trainer.model.trainable_variables if v.ref() not in first]
    assert first and rest
    # rate 0: untouched; rate 0.5: the layers moved
    assert not any(_moved(trainer.model.first_optimizer_variables(), before))
    assert any(_moved([v for v in rest if "kernel" in v.name], before))
    if model == "wide_and_deep":
        # EasyRec's WideAndDeep: the first optimizer trains the wide part only
        assert first == {v.ref() for v in layer.input_variables(wide_only=True)}
        deep_tables = [v for v in layer.table_variables() if v.ref() not in first]
        assert deep_tables and any(_moved(deep_tables, before))
    else:
        assert first == {v.ref() for v in layer.input_variables()}
