"""Which SavedModels a training job writes, and where (export_config).

exporter_type chooses the export after evaluations: ``final`` (default) after the last one,
``latest`` after each, ``best`` after each that improves best_exporter_metric (bigger or
smaller is better as metric_bigger says), ``none`` never. The trainer also asks for ``latest``
exports on the export_every_n_steps / export_every_n_secs cadence. Kind ``k`` goes to
``<export_dir or model_dir/export>/<k>/<timestamp>/``; ``final`` keeps every export, the others
the newest exports_to_keep. A kind is not exported again from the global step its newest export
was made from (e.g. when a finished job is run again).
"""
from __future__ import annotations

import logging
import os
from collections.abc import Callable, Mapping

from easy_rec.export.exporter import export_saved_model, list_exports
from easy_rec.export.info import exported_step
from easy_rec.export.split import StoreRelease
from easy_rec.metrics.evaluator import is_result_key, metric_result_keys
from easy_rec.models.base import RankModel
from easy_rec.protos import export_pb2, pipeline_pb2

logger = logging.getLogger(__name__)

#: export_config.exporter_type values
EXPORTER_TYPES = ("final", "latest", "best", "none")

#: The global step of the model being exported.
StepSource = Callable[[], int]

#: Called with an export kind before exporting; False skips the export (e.g. a drift alarm).
ExportGate = Callable[[str], bool]


def export_root(export_config: export_pb2.ExportConfig, model_dir: str) -> str:
    """The folder the exports of a training job go to (one subfolder per kind)."""
    return export_config.export_dir or os.path.join(model_dir, "export")


def exports_enabled(export_config: export_pb2.ExportConfig) -> bool:
    """Whether a training job with this export_config may export at all."""
    return (export_config.exporter_type != "none" or export_config.export_every_n_steps > 0
            or export_config.export_every_n_secs > 0)


def best_metric(config: pipeline_pb2.EasyRecConfig) -> str:
    """The metric the best exporter compares: best_exporter_metric when evaluation reports it;
    else (with a warning) the first configured eval metric, since EasyRec would fail with a
    KeyError at its second export; '' when no eval metric is configured."""
    wanted = config.export_config.best_exporter_metric
    keys = [k for m in config.eval_config.metrics_set for k in metric_result_keys(m)]
    if is_result_key(wanted, keys) or not keys:
        return wanted if keys else ""
    logger.warning("export_config.best_exporter_metric %r is not a configured eval metric "
                   "(configured: %s): the best exporter compares %r instead", wanted,
                   ", ".join(keys), keys[0])
    return keys[0]


class BestValue:
    """The best value of a metric seen so far; bigger or smaller is better."""

    def __init__(self, bigger: bool) -> None:
        self.bigger = bigger
        self.value: float | None = None

    def update(self, value: float) -> bool:
        """Whether `value` is strictly better than the best so far (then it is the best)."""
        better = self.value is None or (value > self.value if self.bigger else value < self.value)
        if better:
            self.value = value
        return better


class ExportPolicy:
    """Decides the trainer's exports and writes them."""

    def __init__(self, model: RankModel, config: pipeline_pb2.EasyRecConfig, step: StepSource,
                 gate: ExportGate | None = None, base_dir: str | None = None) -> None:
        """`config`: the pipeline config as run (its export_config decides; each export
        carries it); `base_dir`: the config file's folder (for relative asset_files)."""
        self._model = model
        self._pipeline_config = config
        self._config = config.export_config
        self._root = export_root(config.export_config, config.model_dir)
        self._step = step
        self._gate = gate
        self._base_dir = base_dir
        self._metric = best_metric(config) if self._config.exporter_type == "best" else ""
        self._best = BestValue(bool(config.export_config.metric_bigger))

    def after_evaluation(self, results: Mapping[str, float], final: bool) -> None:
        """Exports what exporter_type asks for after an evaluation (`final`: the last one)."""
        kind = self._config.exporter_type or "final"
        if kind == "latest" or (kind == "best" and self._improved(results)) or (
                kind == "final" and final):
            self.export(kind)

    def export(self, kind: str, release: StoreRelease | None = None) -> str | None:
        """Writes a `kind` export; its path (the newest one's when it was made from this global
        step already), or None when the gate held it back. `release`: how a split export uses
        the embedding store (split.py; default: it writes a new version)."""
        if self._gate is not None and not self._gate(kind):
            return None
        root, step = os.path.join(self._root, kind), self._step()
        newest = list_exports(root)[-1:]
        if newest and exported_step(os.path.join(root, newest[0])) == step:
            path = os.path.join(root, newest[0])
            logger.info("%s export of global step %d exists (%s): nothing to export", kind, step,
                        path)
            return path
        keep = 0 if kind == "final" else self._config.exports_to_keep
        return export_saved_model(self._model, self._pipeline_config, root, step, keep=keep,
                                  base_dir=self._base_dir, release=release)

    def _improved(self, results: Mapping[str, float]) -> bool:
        """Whether results beat the best best_exporter_metric so far (then the new best)."""
        value = results.get(self._metric)
        return value is not None and self._best.update(value)
