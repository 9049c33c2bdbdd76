"""Evaluation and export of a distributed job from a plain single-process copy of the model.

The trained model's variables live on parameter servers (PS) or are mirrored over replicas
(MultiWorkerMirrored); the chief evaluates and exports a copy built outside the strategy,
loaded from the checkpoint it has just written. So evaluation waits on no other task, the
SavedModel holds plain variables, and every export also proves that the distributed
checkpoint reads into a single-process model.
"""
from __future__ import annotations

from easy_rec.models.base import RankModel
from easy_rec.models.builder import build_model
from easy_rec.training.restore import read_model_weights


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
