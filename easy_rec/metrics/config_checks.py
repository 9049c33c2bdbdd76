"""Checks of eval_config.metrics_set: a metric in each entry, the group column and reduction
of GAUC / session AUC, precision_at_topk's model, and the cut-offs of retrieval metrics."""
from __future__ import annotations

from collections.abc import Sequence

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.metrics.classification import GAUC_REDUCTIONS, GROUPED_AUC_FIELDS
from easy_rec.metrics.evaluator import METRIC_KEYS
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS


def check_eval_config(ctx: CheckContext) -> None:
    """Every metrics_set entry names a metric with valid settings."""
    for i, metric in enumerate(ctx.config.eval_config.metrics_set):
        where = f"eval_config.metrics_set[{i}]"
        kind = metric.WhichOneof("metric")
        if kind is None:
            ctx.fail(where, f"empty metrics_set; use one of {', '.join(METRIC_KEYS)}")
        if kind in GROUPED_AUC_FIELDS:
            _check_grouped_auc(ctx, kind, getattr(metric, kind), f"{where}.{kind}")
        if kind == "precision_at_topk":
            _check_precision_at_topk(ctx, metric.precision_at_topk.topk,
                                     f"{where}.precision_at_topk")
        if kind in RETRIEVAL_METRICS:
            _check_top_k(ctx, getattr(metric, kind).top_k, f"{where}.{kind}.top_k")


def _check_grouped_auc(ctx: CheckContext, kind: str, metric: Message, where: str) -> None:
    field = GROUPED_AUC_FIELDS[kind]
    ctx.require_input(getattr(metric, field), f"{where}.{field}", f"{kind} {field}")
    if metric.reduction not in GAUC_REDUCTIONS:
        ctx.fail(f"{where}.reduction", f"{kind} reduction {metric.reduction!r} is not one of "
                 f"{', '.join(GAUC_REDUCTIONS)}")


#: the model whose embeddings precision_at_topk ranks (EasyRec computes it for it alone)
METRIC_LEARNING_MODEL = "CoMetricLearningI2I"


def _check_precision_at_topk(ctx: CheckContext, topk: int, where: str) -> None:
    model_class = ctx.config.model_config.model_class
    if model_class != METRIC_LEARNING_MODEL:
        ctx.fail(where, f"precision_at_topk is the average precision of metric learning: it ranks "
                 f"the rows of each eval batch by their embeddings, which {METRIC_LEARNING_MODEL} "
                 f"outputs; model_class {model_class} does not")
    if topk <= 0:
        ctx.fail(f"{where}.topk", f"topk must be > 0, got {topk}")


def _check_top_k(ctx: CheckContext, top_k: Sequence[int], where: str) -> None:
    if not top_k:
        ctx.fail(where, "a retrieval metric needs top_k (e.g. top_k: [10, 50])")
    for k, value in enumerate(top_k):
        if value <= 0:
            ctx.fail(f"{where}[{k}]", f"top_k must be > 0, got {value}")
