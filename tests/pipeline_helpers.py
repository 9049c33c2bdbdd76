"""Helpers for tests that train models: load a sample config with test-sized overrides."""
from __future__ import annotations

import os

from conftest import SAMPLES
from easy_rec.config.loader import load_pipeline_config

from easy_rec.training.trainer import Trainer


def sample_config(model: str, model_dir: str, train: str, test: str, **edits):
    """The samples/<model>_on_movielens.config with data, model_dir and `edits` overridden."""
    all_edits = {
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


def train(config, **kwargs) -> tuple[Trainer, dict]:
    """Trains `config` in process; returns the trainer and the final eval results."""
    trainer = Trainer(config, base_dir=SAMPLES, **kwargs)
    return trainer, trainer.train()
