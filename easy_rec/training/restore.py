"""Loading a trained model's weights from a checkpoint (for eval, export and warm starts)."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.models.base import RankModel
from easy_rec.models.builder import build_model
from easy_rec.protos import pipeline_pb2
from easy_rec.training.optimization.moving_average import apply_checkpoint_averages


def resolve_checkpoint(path: str) -> str:
    """A checkpoint prefix from a prefix or a directory holding checkpoints."""
    if tf.io.gfile.isdir(path):
        latest = tf.train.latest_checkpoint(path)
        if latest is None:
            raise FileNotFoundError(f"no checkpoint in directory {path}")
        return latest
    if not tf.io.gfile.exists(path + ".index"):
        raise FileNotFoundError(f"checkpoint {path} not found")
    return path


def checkpoint_step(path: str) -> int:
    """Global step stored in a checkpoint (0 if it has none)."""
    try:
        return int(tf.train.load_variable(path, "global_step/.ATTRIBUTES/VARIABLE_VALUE"))
    except (tf.errors.NotFoundError, ValueError):
        return 0


def read_model_weights(model: RankModel, path: str) -> None:
    """Restores the model's variables from a checkpoint, ignoring optimizer and input state;
    variables with moving averages in the checkpoint (use_moving_average) get the averages."""
    tf.train.Checkpoint(model=model).read(path).expect_partial()
    apply_checkpoint_averages(model.trainable_variables, path)


def load_trained_model(config: pipeline_pb2.EasyRecConfig, checkpoint_path: str | None = None,
                       base_dir: str | None = None) -> tuple[RankModel, int, str]:
    """(model with restored weights, its global step, checkpoint prefix).

    checkpoint_path defaults to the latest checkpoint in model_dir.
    """
    path = resolve_checkpoint(checkpoint_path or config.model_dir)
    model = build_model(config, base_dir)
    read_model_weights(model, path)
    return model, checkpoint_step(path), path
