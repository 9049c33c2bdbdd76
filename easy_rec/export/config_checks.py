"""Checks of export_config: a known exporter_type, and for the best exporter a metric that
evaluation reports."""
from __future__ import annotations

from easy_rec.config.context import CheckContext
from easy_rec.export.policy import EXPORTER_TYPES
from easy_rec.metrics.evaluator import is_result_key, metric_result_keys


def check_export_config(ctx: CheckContext) -> None:
    """exporter_type is known; best_exporter_metric is a configured eval metric."""
    export = ctx.config.export_config
    if export.exporter_type not in EXPORTER_TYPES:
        ctx.fail("export_config.exporter_type", f"exporter_type {export.exporter_type!r} "
                 f"is not one of {', '.join(EXPORTER_TYPES)}")
    if export.exporter_type != "best":
        return
    keys = [k for m in ctx.config.eval_config.metrics_set for k in metric_result_keys(m)]
    if not is_result_key(export.best_exporter_metric, keys):
        configured = ", ".join(keys) or "none (eval_config.metrics_set is empty)"
        ctx.fail("export_config.best_exporter_metric", f"best_exporter_metric "
                 f"{export.best_exporter_metric!r} is not a configured eval metric; "
                 f"configured: {configured}")
