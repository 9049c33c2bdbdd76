"""Evaluation and export of a distributed job from a plain single-process copy of the model.

The trained model's variables live on parameter servers (PS) or are mirrored over replicas
(MultiWorkerMirrored); the chief evaluates and exports a copy built outside the strategy,
loaded from the checkpoint it has just written. So evaluation waits on no other task, the
SavedModel holds plain variables, and every export also proves that the distributed
checkpoint reads into a single-process model. Exports outside an evaluation (embedding pushes)
copy the current weights into the copy instead, after every scheduled step has finished.
"""
from __future__ import annotations

import logging

import tensorflow as tf

from easy_rec.distribute.cluster import separate_evaluator
from easy_rec.models.base import RankModel
from easy_rec.models.builder import build_model
from easy_rec.training.restore import read_model_weights

logger = logging.getLogger(__name__)


class LocalCopyMixin:
    """For Trainer subclasses: evaluations and exports read a local copy of the model."""

    def _output_model(self, base_dir: str | None) -> RankModel:
        self._local_model = build_model(self.config, base_dir)
        return self._local_model

    def _evaluate_and_export(self, step: int, final: bool = False) -> dict[str, float]:
        latest = self.manager.latest_checkpoint
        if latest:
            read_model_weights(self._local_model, latest)
        return super()._evaluate_and_export(step, final)

    def _evaluates_here(self) -> bool:
        if self.evaluator is None:
            return False
        if separate_evaluator(self.cluster, self.config.model_dir):
            logger.info("an evaluator task evaluates the checkpoints: the chief does not")
            return False
        return True

    def _sync_output_model(self, tables: bool) -> None:
        skip = set() if tables else {id(t.weights) for t in self.pusher.tables.values()}
        copy_weights(self.model, self._local_model, skip)


def _model_variables(model: RankModel) -> dict[tuple, object]:
    """The model's variables (a sharded one as a whole) by attribute path."""
    return dict(model._flatten(predicate=lambda x: isinstance(x, tf.Variable) or hasattr(
        x, "is_sharded_variable"), with_path=True))


def copy_weights(source: RankModel, target: RankModel, skip: set) -> None:
    """Assigns the values of `source`'s variables (except those whose id() is in `skip`) to
    the same variables of `target`, a model built from the same config."""
    targets = _model_variables(target)
    for path, variable in _model_variables(source).items():
        if id(variable) not in skip:
            targets[path].assign(tf.convert_to_tensor(variable))
