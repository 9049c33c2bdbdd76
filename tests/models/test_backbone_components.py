"""The backbone samples of the components in docs/components.md: each config passes the config
check, and (slow) trains 20 steps, learns, exports, and serves what the model computes."""
from __future__ import annotations

import glob
import os

import numpy as np
import pytest
import tensorflow as tf
from conftest import SAMPLES

from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.trainer import Trainer

COMPONENT_SAMPLES = {
    "components": ["PeriodicEmbedding", "AutoDisEmbedding", "NaryDisEmbedding", "Highway",
                   "PPNet", "Attention"],
    "aitm": ["AITMTower"],
    "cl4srec": ["SeqAugment", "BST", "AuxiliaryLoss"],
}


def sample_path(sample: str) -> str:
    return os.path.join(SAMPLES, "backbone", f"{sample}_backbone_on_movielens.config")


def sliced(path: str, rows: int, out) -> str:
    with open(os.path.join(os.path.dirname(SAMPLES), path), encoding="utf-8") as src:
        out.write_text("".join(line for _, line in zip(range(rows), src)), encoding="utf-8")
    return str(out)


@pytest.mark.parametrize("sample", sorted(COMPONENT_SAMPLES))
def test_sample_config_uses_its_components(sample):
    config = load_pipeline_config(sample_path(sample)).config
    used = {layer.keras_layer.class_name for block in config.model_config.backbone.blocks
            for layer in [block] if block.HasField("keras_layer")}
    used |= {block.keras_layer.class_name for package in config.model_config.backbone.packages
             for block in package.blocks if block.HasField("keras_layer")}
    assert set(COMPONENT_SAMPLES[sample]) <= used


@pytest.mark.slow
@pytest.mark.parametrize("sample", sorted(COMPONENT_SAMPLES))
def test_sample_trains_learns_and_exports(sample, tmp_path):
    raw = load_pipeline_config(sample_path(sample)).config
    config = load_pipeline_config(sample_path(sample), {
        "model_dir": str(tmp_path / "model"),
        "train_input_path": sliced(raw.train_input_path, 2000, tmp_path / "train.csv"),
        "eval_input_path": sliced(raw.eval_input_path, 300, tmp_path / "test.csv"),
        "data_config.batch_size": 128, "data_config.num_epochs": 0,
        "train_config.num_steps": 20, "train_config.save_checkpoints_steps": 1000,
        "train_config.log_step_count_steps": 10, "export_config.exporter_type": "final"}).config
    tf.random.set_seed(3)
    trainer = Trainer(config, base_dir=SAMPLES)
    batch = next(iter(trainer.evaluator._reader.make_dataset(128, num_epochs=1, shuffle=False)))
    before = float(trainer.model.loss(trainer.model(batch, training=False), batch))
    results = trainer.train()
    after = float(trainer.model.loss(trainer.model(batch, training=False), batch))
    assert np.isfinite(results["loss"]) and after < before, (before, after)
    exports = glob.glob(os.path.join(config.model_dir, "export", "final", "[0-9]*"))
    assert len(exports) == 1
    inputs = {name: batch[name][:8] for name in trainer.model.serving_input_names}
    expected = trainer.model.serving_outputs(trainer.model(inputs, training=False))
    served = tf.saved_model.load(exports[0]).signatures["serving_default"](**inputs)
    for key, value in expected.items():
        np.testing.assert_allclose(served[key].numpy(), value.numpy(), rtol=1e-4, atol=1e-5)
