"""train_config.fine_tune_checkpoint: warm-starting a new model from another job's checkpoint.

As EasyRec's ``EasyRecModel.restore``, variable by variable:

- a variable whose name contains one of ``model_config.restore_filters`` (plain substrings,
  e.g. ``"dnn/"``) is not restored and keeps its initial value;
- a variable missing from the checkpoint keeps its initial value (logged);
- a variable whose shape differs from the checkpoint's keeps its initial value with a warning,
  unless ``train_config.force_restore_shape_compatible`` is set and the ranks agree: then the
  checkpoint value is clipped or zero-padded at the end of each dimension to the variable's
  shape (e.g. an embedding table that grew from 1000 to 1200 rows keeps the 1000 trained rows
  and gets 200 zero rows);
- moving averages saved in the checkpoint (use_moving_average) replace the raw values, as for
  every reader of a checkpoint.

Names are this project's (``DeepFM/dnn/dense_0/kernel:0``), as in freeze_gradient.
"""
from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import tensorflow as tf
from tensorflow.python.checkpoint import graph_view
from tensorflow.python.checkpoint import util as checkpoint_util

from easy_rec.models.base import RankModel
from easy_rec.training.optimization.moving_average import CHECKPOINT_KEY, MovingAverage

logger = logging.getLogger(__name__)

_VALUE_SUFFIX = "/.ATTRIBUTES/VARIABLE_VALUE"


def checkpoint_keys(root: tf.train.Checkpoint) -> dict[int, str]:
    """id(variable) -> the key its value has in a checkpoint written from `root`."""
    objects, _, _, _, names = checkpoint_util.objects_ids_and_slot_variables_and_paths(
        graph_view.ObjectGraphView(root))
    return {id(obj): names[obj] + _VALUE_SUFFIX for obj in objects if isinstance(obj, tf.Variable)}


def pad_or_clip(value: np.ndarray, shape: Sequence[int]) -> np.ndarray:
    """`value` cut or zero-padded at the end of each dimension to `shape` (same rank)."""
    clipped = value[tuple(slice(0, n) for n in shape)]
    return np.pad(clipped, [(0, n - m) for n, m in zip(shape, clipped.shape)])


def warm_start(model: RankModel, path: str, restore_filters: Sequence[str] = (),
               force_shape_compatible: bool = False) -> list[str]:
    """Restores `model`'s variables from checkpoint `path` as the module docstring says;
    returns the names of the variables that got a value from the checkpoint."""
    averages = MovingAverage()
    averages.build(model.trainable_variables, decay=0.0)
    keys = checkpoint_keys(tf.train.Checkpoint(model=model,
                                               **{CHECKPOINT_KEY: averages.checkpointed}))
    averaged = {id(var): keys[id(shadow)] for var, shadow in averages.shadows()}
    reader = tf.train.load_checkpoint(path)
    shapes = reader.get_variable_to_shape_map()
    restored = []
    for var in model.variables:
        if any(pattern in var.name for pattern in restore_filters):
            logger.info("restore_filters: %s is not restored", var.name)
            continue
        key = averaged.get(id(var))
        if key not in shapes:
            key = keys[id(var)]
        if key not in shapes:
            logger.info("%s is not in %s: it keeps its initial value", var.name, path)
            continue
        value, shape = reader.get_tensor(key), var.shape.as_list()
        if list(value.shape) != shape:
            if not force_shape_compatible or value.ndim != len(shape):
                logger.warning("%s has shape %s in %s, %s in the model: it keeps its initial "
                               "value", var.name, list(value.shape), path, shape)
                continue
            logger.info("force_restore_shape_compatible: %s restored from shape %s to %s",
                        var.name, list(value.shape), shape)
            value = pad_or_clip(value, shape)
        var.assign(value)
        restored.append(var.name)
    return restored
