"""Helpers for tests that train models: load a sample config with test-sized overrides."""
from __future__ import annotations

import os

from conftest import SAMPLES

from easy_rec.pipeline import load_pipeline_config
from easy_rec.training.trainer import Trainer


def sample_config(model: str, model_dir: str, train: str, test: str, **edits):
    """The samples/<model>_on_movielens.config with data, model_dir and `edits` overridden;
    no export unless `edits` asks for one (exports are tested where they are the point)."""
    all_edits = {
        "export_config.exporter_type": "none",
        "model_dir": model_dir,
        "train_input_path": train,
        "eval_input_path": test,
        "data_config.batch_size": 128,
        "data_config.num_epochs": 0,
        "train_config.num_steps": 60,
        "train_config.save_checkpoints_steps": 1000,
        "train_config.log_step_count_steps": 20,
    }
    all_edits.update(edits)
    path = os.path.join(SAMPLES, f"{model}_on_movielens.config")
    return load_pipeline_config(path, all_edits).config


def exporting_sample_config(model: str, model_dir: str, train: str, test: str, **edits):
    """sample_config with the sample's own final export (for tests that read the export)."""
    return sample_config(model, model_dir, train, test,
                         **{"export_config.exporter_type": "final", **edits})


def train(config, **kwargs) -> tuple[Trainer, dict]:
    """Trains `config` in process; returns the trainer and the final eval results."""
    trainer = Trainer(config, base_dir=SAMPLES, **kwargs)
    return trainer, trainer.train()


def sample_model_and_batch(sample: str, rows_file: str, batch_size: int, **edits):
    """(model, one batch of `rows_file`) for samples/<sample>_on_movielens.config with `edits`."""
    import tensorflow as tf

    from easy_rec.input.reader import build_reader
    from easy_rec.models.builder import build_model, model_column_plan

    config = load_pipeline_config(os.path.join(SAMPLES, f"{sample}_on_movielens.config"),
                                  edits or None).config
    tf.random.set_seed(0)
    model = build_model(config, base_dir=SAMPLES)
    reader = build_reader(config.data_config, rows_file, model_column_plan(config, model))
    return model, next(iter(reader.make_dataset(batch_size, num_epochs=1)))
