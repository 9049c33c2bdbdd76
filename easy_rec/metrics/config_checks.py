"""Checks of eval_config.metrics_set: a metric in each entry, GAUC's group column and
reduction, and the cut-offs of retrieval metrics."""
from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.metrics.classification import GAUC_REDUCTIONS
from easy_rec.metrics.evaluator import METRIC_KEYS
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS


def check_eval_config(ctx: CheckContext) -> None:
    """Every metrics_set entry names a metric with valid settings."""
    for i, metric in enumerate(ctx.config.eval_config.metrics_set):
        where = f"eval_config.metrics_set[{i}]"
        kind = metric.WhichOneof("metric")
        if kind is None:
            ctx.fail(where, f"empty metrics_set; use one of {', '.join(METRIC_KEYS)}")
        if kind == "gauc":
            _check_gauc(ctx, metric.gauc, f"{where}.gauc")
        if kind in RETRIEVAL_METRICS:
            _check_top_k(ctx, getattr(metric, kind).top_k, f"{where}.{kind}.top_k")


def _check_gauc(ctx: CheckContext, gauc: Message, where: str) -> None:
    ctx.require_input(gauc.uid_field, f"{where}.uid_field", "gauc uid_field")
    if gauc.reduction not in GAUC_REDUCTIONS:
        ctx.fail(f"{where}.reduction", f"gauc reduction {gauc.reduction!r} is not one of "
                 f"{', '.join(GAUC_REDUCTIONS)}")


def _check_top_k(ctx: CheckContext, top_k: Sequence[int], where: str) -> None:
    if not top_k:
        ctx.fail(where, "a retrieval metric needs top_k (e.g. top_k: [10, 50])")
    for k, value in enumerate(top_k):
        if value <= 0:
            ctx.fail(f"{where}[{k}]", f"top_k must be > 0, got {value}")
