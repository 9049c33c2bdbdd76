"""Early stop on an evaluation metric: export_config.enable_early_stop, as EasyRec's.

EasyRec stops training when `best_exporter_metric` has not improved (increased with
`metric_bigger`, else decreased) for `max_check_steps` training steps: its estimator hook is
tf.estimator's stop_if_no_increase_hook / stop_if_no_decrease_hook over the evaluation
results. Here the trainer feeds every evaluation to `EarlyStop.observe` and asks `reason()`
after each step:

    stop when  step - (step of the best value so far) >= max_check_steps

Only a strictly better value moves the best step. Evaluations without the metric are ignored.
The trainer passes the metric the best exporter compares (`export.policy.best_metric`), so
both follow the same fallback when `best_exporter_metric` is not a configured eval metric.
"""
from __future__ import annotations

from collections.abc import Mapping

from easy_rec.export.policy import BestValue
from easy_rec.protos import export_pb2


class EarlyStop:
    """Tracks the best value of the early-stop metric over evaluations (module docstring)."""

    def __init__(self, export_config: export_pb2.ExportConfig, metric: str | None = None):
        self.enabled = bool(export_config.enable_early_stop)
        self.metric = export_config.best_exporter_metric if metric is None else metric
        self.bigger = bool(export_config.metric_bigger)
        self.patience = int(export_config.max_check_steps)
        self._best = BestValue(self.bigger)
        self.best_step: int | None = None
        self._last_step: int | None = None

    def observe(self, step: int, results: Mapping[str, float]) -> None:
        """Records the evaluation `results` made at training step `step`."""
        if not self.enabled or self.metric not in results:
            return
        self._last_step = step
        if self._best.update(float(results[self.metric])):
            self.best_step = step

    def reason(self) -> str | None:
        """Why training should stop now (None: go on)."""
        if self.best_step is None or self._last_step is None:
            return None
        if self._last_step - self.best_step < self.patience:
            return None
        direction = "increased" if self.bigger else "decreased"
        return (f"export_config.enable_early_stop: {self.metric} has not {direction} for "
                f"{self._last_step - self.best_step} steps (max_check_steps "
                f"{self.patience}; best {self._best.value:.6g} at step {self.best_step})")
