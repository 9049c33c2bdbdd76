"""Checks of model_config against the model registry and each model's own hooks
(`validate_config`, `validate_pipeline`), and of settings only matching models read."""
from __future__ import annotations

from easy_rec.config.context import CheckContext
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS
from easy_rec.models import registry
from easy_rec.models.losses.config_checks import check_distillation, check_task_losses
from easy_rec.models.match_base import MatchModel
from easy_rec.models.multi_task import MultiTaskModel


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


def check_losses(ctx: CheckContext) -> None:
    """The losses of every task (model_config.losses / loss_type, or each task tower's),
    model_config.kd, and where `losses` and variational_dropout apply."""
    config = ctx.config
    model = config.model_config
    cls = registry.get_model_class(model.model_class)
    inputs = {f.input_name for f in config.data_config.input_fields}
    labels = list(config.data_config.label_fields) or ["label"]
    strategy = model.loss_weight_strategy
    if issubclass(cls, MatchModel):
        if model.losses:
            ctx.fail("model_config.losses", f"{model.model_class} is trained by "
                     "model_config.loss_type; losses apply to ranking and multi-task models")
        if model.HasField("variational_dropout"):
            ctx.fail("model_config.variational_dropout", "variational_dropout applies to "
                     f"ranking and multi-task models, not to {model.model_class}")
    elif issubclass(cls, MultiTaskModel):
        if model.losses:
            ctx.fail("model_config.losses", f"{model.model_class} takes losses in its task "
                     "towers (task_towers { losses {...} })")
        for where, tower in cls.towers_in(model):
            check_task_losses(where, tower.losses, tower.loss_type, max(tower.num_class, 1),
                              strategy, inputs, ctx.locate,
                              getattr(tower, "relation_tower_names", ()))
            space = tower.task_space_indicator_label
            if space and space not in labels:
                ctx.fail(f"{where}.task_space_indicator_label", f"task_space_indicator_label "
                         f"{space!r} must be one of data_config.label_fields "
                         f"({', '.join(labels)})")
    else:
        check_task_losses("model_config", model.losses, model.loss_type,
                          max(model.num_class, 1), strategy, inputs, ctx.locate)
    check_distillation(model, labels, inputs, ctx.locate)
    if model.variational_dropout.regularization_lambda < 0:
        ctx.fail("model_config.variational_dropout.regularization_lambda",
                 "regularization_lambda must be >= 0")
