"""Checks of model_config against the model registry and each model's own hooks
(`validate_config`, `validate_pipeline`), and of settings only matching models read."""
from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS
from easy_rec.models import registry
from easy_rec.models.base import EMBEDDING_LOSSES
from easy_rec.models.match_base import MatchModel
from easy_rec.protos import loss_pb2

LOSS_TYPE = loss_pb2.DESCRIPTOR.enum_types_by_name["LossType"].full_name


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
    check_own_losses(ctx, cls)
    for hook, checked in (("validate_config", model), ("validate_pipeline", ctx.config)):
        if callable(getattr(cls, hook, None)):  # optional for classes not derived from RankModel
            getattr(cls, hook)(checked, ctx.locate)


def check_own_losses(ctx: CheckContext, cls: type) -> None:
    """Loss types of EMBEDDING_LOSSES (anywhere in model_config: loss_type, task towers,
    losses entries), and model_config.losses, only for the model classes that compute them
    (own_losses)."""
    model = ctx.config.model_config
    own = getattr(cls, "own_losses", ())
    if model.losses and not getattr(cls, "reads_losses", False):
        ctx.fail("model_config.losses", f"losses is not supported: model_class "
                 f"{model.model_class} does not read it yet (DropoutNet does)")
    for path, value in _loss_types(model, "model_config"):
        if value in EMBEDDING_LOSSES and value not in own:
            name = loss_pb2.LossType.Name(value)
            ctx.fail(path, f"loss_type {name} is not supported: model_class "
                     f"{model.model_class} does not compute it (embedding models such as "
                     "CoMetricLearningI2I and DropoutNet do)")


def _loss_types(message: Message, path: str) -> Iterator[tuple[str, int]]:
    """(path, value) of every LossType field set in `message` and its sub-messages."""
    for field, value in message.ListFields():
        where = f"{path}.{field.name}"
        values = value if field.is_repeated else [value]
        for i, item in enumerate(values):
            at = f"{where}[{i}]" if field.is_repeated else where
            if field.message_type is not None:
                yield from _loss_types(item, at)
            elif field.enum_type is not None and field.enum_type.full_name == LOSS_TYPE:
                yield at, item


def check_matching_settings(ctx: CheckContext) -> None:
    """Retrieval metrics need a matching model; data_config.negative_sampler a model that draws
    negatives (uses_negative_sampler)."""
    config = ctx.config
    model_class = config.model_config.model_class
    cls = registry.get_model_class(model_class)
    if issubclass(cls, MatchModel):
        return
    if config.data_config.HasField("negative_sampler") and not cls.uses_negative_sampler:
        ctx.fail("data_config.negative_sampler", f"model_class {model_class} does not use "
                 "a negative sampler (matching models such as DSSM do)")
    for i, metric in enumerate(config.eval_config.metrics_set):
        if metric.WhichOneof("metric") in RETRIEVAL_METRICS:
            ctx.fail(f"eval_config.metrics_set[{i}]", f"{metric.WhichOneof('metric')} ranks "
                     f"items by user and item embeddings; model_class {model_class} is not "
                     "a matching model (such as DSSM)")
