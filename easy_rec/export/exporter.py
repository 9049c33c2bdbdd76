"""SavedModel export: a `serving_default` signature over the raw named input columns, plus the
named signatures a model adds (RankModel.extra_signatures, e.g. a matching model's towers)."""
from __future__ import annotations

import logging
import os
import shutil
import time

import tensorflow as tf

from easy_rec.input.fields import column_dtypes
from easy_rec.models.base import RankModel
from easy_rec.protos import dataset_pb2

logger = logging.getLogger(__name__)


def serving_specs(model: RankModel, data_config: dataset_pb2.DatasetConfig) -> dict[str, tf.TensorSpec]:
    """One [batch] TensorSpec per raw input column the model reads, in its configured dtype."""
    dtypes = column_dtypes(data_config)
    return {name: tf.TensorSpec([None], dtypes[name], name=name) for name in model.serving_input_names}


class ServingModule(tf.Module):
    """Wraps a model with its serving function; only stock TF ops end up in the graph."""

    def __init__(self, model: RankModel, specs: dict[str, tf.TensorSpec]):
        super().__init__(name="serving")
        self.model = model
        self.serve = tf.function(self._serve, input_signature=[specs], autograph=False)
        self.extra = {
            name: tf.function(function, input_signature=[{c: specs[c] for c in columns}],
                              autograph=False)
            for name, (columns, function) in model.extra_signatures().items()}

    def _serve(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = self.model(features, training=False)
        return self.model.serving_outputs(outputs)


def export_saved_model(model: RankModel, data_config: dataset_pb2.DatasetConfig, export_root: str,
                       keep: int = 0) -> str:
    """Writes `<export_root>/<timestamp>/` atomically (temp dir, then rename); returns its path.

    keep > 0 deletes the oldest exports beyond that many.
    """
    os.makedirs(export_root, exist_ok=True)
    module = ServingModule(model, serving_specs(model, data_config))
    stamp = int(time.time())
    while os.path.exists(os.path.join(export_root, str(stamp))):
        stamp += 1
    final = os.path.join(export_root, str(stamp))
    tmp = os.path.join(export_root, f".tmp-{stamp}-{os.getpid()}")
    tf.saved_model.save(module, tmp, signatures={"serving_default": module.serve, **module.extra})
    os.replace(tmp, final)
    logger.info("exported SavedModel to %s", final)
    if keep > 0:
        _prune(export_root, keep)
    return final


def list_exports(export_root: str) -> list[str]:
    """Timestamped export folders under export_root, oldest first."""
    if not os.path.isdir(export_root):
        return []
    return sorted((d for d in os.listdir(export_root) if d.isdigit()), key=int)


def _prune(export_root: str, keep: int) -> None:
    for old in list_exports(export_root)[:-keep]:
        shutil.rmtree(os.path.join(export_root, old), ignore_errors=True)
