"""Checks of model_config against the model registry and each model's own hooks
(`validate_config`, `validate_pipeline`), and of settings only matching models read."""
from __future__ import annotations

from easy_rec.config.context import CheckContext
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS
from easy_rec.models import registry
from easy_rec.models.match_base import MatchModel


def check_model_block(ctx: CheckContext) -> None:
    """When model_class is set: it is registered and its model_config block is the one set.
    Run before the required-field check, since a wrong block reads better than the required
    fields missing inside it."""
    if ctx.config.model_config.model_class:
        _model_class(ctx)


def _model_class(ctx: CheckContext) -> type:
    model = ctx.config.model_config
    name = model.model_class
    known = registry.registered_models()
    if name not in known:
        ctx.fail("model_config.model_class", f"unknown model_class {name!r}; registered "
                 f"models: {', '.join(known) or 'none'}")
    expected = registry.model_config_field(name)
    found = model.WhichOneof("model")
    if found != expected:
        where = f"model_config.{found}" if found else "model_config.model_class"
        found_text = f"found a {found!r} block" if found else "no model block is set"
        ctx.fail(where, f"model_class {name} expects a {expected!r} block in model_config; "
                 f"{found_text}")
    return registry.get_model_class(name)


def check_model_config(ctx: CheckContext) -> None:
    """A registered model_class with its block, num_class >= 1, then the model's hooks."""
    cls = _model_class(ctx)
    model = ctx.config.model_config
    if model.num_class < 1:
        ctx.fail("model_config.num_class", f"num_class must be >= 1, got {model.num_class}")
    for hook, checked in (("validate_config", model), ("validate_pipeline", ctx.config)):
        if callable(getattr(cls, hook, None)):  # optional for classes not derived from RankModel
            getattr(cls, hook)(checked, ctx.locate)


def check_matching_settings(ctx: CheckContext) -> None:
    """Retrieval metrics and a negative sampler (data_config's sampler) need a matching
    model."""
    config = ctx.config
    model_class = config.model_config.model_class
    if issubclass(registry.get_model_class(model_class), MatchModel):
        return
    sampler = config.data_config.WhichOneof("sampler")
    if sampler:
        ctx.fail(f"data_config.{sampler}", f"model_class {model_class} does not use "
                 "a negative sampler (matching models such as DSSM do)")
    for i, metric in enumerate(config.eval_config.metrics_set):
        if metric.WhichOneof("metric") in RETRIEVAL_METRICS:
            ctx.fail(f"eval_config.metrics_set[{i}]", f"{metric.WhichOneof('metric')} ranks "
                     f"items by user and item embeddings; model_class {model_class} is not "
                     "a matching model (such as DSSM)")
