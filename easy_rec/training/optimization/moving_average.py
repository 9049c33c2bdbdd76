"""optimizer_config.use_moving_average: exponential moving averages of the trained variables.

EasyRec wraps the optimizer in ``tf.contrib.opt.MovingAverageOptimizer``: after every update
each variable's shadow moves ``shadow = decay * shadow + (1 - decay) * var`` (decay =
moving_average_decay, no step-dependent warm-up; the shadow starts at the variable's value),
and its saver swaps the averages into the checkpoint, so evaluation, export and warm starts
see the averaged weights while training goes on with the raw ones.

Here the shadows are saved next to the model in the training checkpoint (key
``moving_average``); `swapped()` puts them into the variables while the trainer evaluates and
exports, and `apply_checkpoint_averages` does the same for a model read from a checkpoint
(easy_rec.eval, easy_rec.export, fine_tune_checkpoint), so every reader of a checkpoint sees
the averages, as with EasyRec's swapping saver.
"""
from __future__ import annotations

from collections.abc import Iterator, Sequence
from contextlib import contextmanager

import tensorflow as tf

from easy_rec.protos import train_pb2
from easy_rec.training.optimization.optimizers import variable_key

CHECKPOINT_KEY = "moving_average"


class MovingAverage:
    """Shadow copies of variables, updated by `update()` after each training step.

    `checkpointed` (a tf.Module holding only the shadows, keyed by variable name) is what
    goes into checkpoints; the variables themselves are saved with the model.
    """

    def __init__(self) -> None:
        self.checkpointed = tf.Module(name="MovingAverage")
        self.checkpointed.shadows = {}
        self._pairs: list[tuple[tf.Variable, tf.Variable, float]] = []

    def __bool__(self) -> bool:
        return bool(self._pairs)

    def build(self, variables: Sequence[tf.Variable], decay: float) -> None:
        """Creates the shadows of `variables` (eagerly), starting at their current values."""
        for var in variables:
            key = variable_key(var)
            shadow = tf.Variable(var.read_value(), trainable=False,
                                 name=f"{key}/ExponentialMovingAverage")
            self.checkpointed.shadows[key] = shadow
            self._pairs.append((var, shadow, float(decay)))

    def shadows(self) -> list[tuple[tf.Variable, tf.Variable]]:
        """(variable, its shadow) pairs."""
        return [(var, shadow) for var, shadow, _ in self._pairs]

    def update(self) -> None:
        """One averaging step of every shadow (graph-safe)."""
        for var, shadow, decay in self._pairs:
            shadow.assign(decay * shadow + (1.0 - decay) * var)

    def copy_to_variables(self) -> None:
        """Overwrites each variable with its shadow."""
        for var, shadow, _ in self._pairs:
            var.assign(shadow)

    @contextmanager
    def swapped(self) -> Iterator[None]:
        """The variables hold the averages inside the block and their own values after it."""
        saved = [var.read_value() for var, _, _ in self._pairs]
        self.copy_to_variables()
        try:
            yield
        finally:
            for (var, _, _), value in zip(self._pairs, saved):
                var.assign(value)


def moving_average_decays(train_config: train_pb2.TrainConfig) -> tuple[float | None,
                                                                          float | None]:
    """(decay of the dense variables, decay of the embedding tables); None where the
    optimizer_config that trains them does not set use_moving_average. The tables follow
    optimizer_config[0], the dense variables the last optimizer_config (as build_optimizers)."""
    configs = train_config.optimizer_config

    def decay(config) -> float | None:
        return float(config.moving_average_decay) if config.use_moving_average else None

    return (decay(configs[-1]), decay(configs[0])) if configs else (None, None)


def apply_checkpoint_averages(variables: Sequence[tf.Variable], path: str) -> bool:
    """Puts the moving averages stored in checkpoint `path` (if any) into `variables`, which
    already hold the checkpoint's raw values; returns whether the checkpoint had averages."""
    averages = MovingAverage()
    averages.build(variables, decay=0.0)
    reader = tf.train.load_checkpoint(path)
    if not any(name.startswith(f"{CHECKPOINT_KEY}/") for name in
               reader.get_variable_to_shape_map()):
        return False
    tf.train.Checkpoint(**{CHECKPOINT_KEY: averages.checkpointed}).read(path).expect_partial()
    averages.copy_to_variables()
    return True
