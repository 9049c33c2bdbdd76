"""Checks of model_config against the model registry and each model's own hooks
(`validate_config`, `validate_pipeline`), and of settings only matching models read."""
from __future__ import annotations

from collections.abc import Iterator

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS
from easy_rec.models import registry
from easy_rec.models.base import EMBEDDING_LOSSES
from easy_rec.models.losses.config_checks import check_distillation, check_task_losses
from easy_rec.models.match_base import MatchModel
from easy_rec.models.multi_task import MultiTaskModel
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
    for i, group in enumerate(model.feature_groups):
        if group.negative_sampler and group.group_name not in getattr(cls, "candidate_groups", ()):
            ctx.fail(f"model_config.feature_groups[{i}].negative_sampler",
                     f"negative_sampler is not supported on group {group.group_name!r} of "
                     f"{model.model_class}: only MultiTowerRecall's 'user' group recomputes its "
                     "target attention for each drawn item")
    for hook, checked in (("validate_config", model), ("validate_pipeline", ctx.config)):
        if callable(getattr(cls, hook, None)):  # optional for classes not derived from RankModel
            getattr(cls, hook)(checked, ctx.locate)


def check_own_losses(ctx: CheckContext, cls: type) -> None:
    """model_config.losses only for the model classes that read it (reads_losses), and loss
    types of EMBEDDING_LOSSES (anywhere in model_config: loss_type, task towers, losses
    entries) only for those that compute them (own_losses)."""
    model = ctx.config.model_config
    if model.losses and not getattr(cls, "reads_losses", True):
        if issubclass(cls, MultiTaskModel):
            ctx.fail("model_config.losses", f"{model.model_class} takes losses in its task "
                     "towers (task_towers { losses {...} })")
        ctx.fail("model_config.losses", f"losses is not supported: model_class "
                 f"{model.model_class} is trained by model_config.loss_type (ranking models "
                 "and DropoutNet read losses)")
    for path, value in _loss_types(model, "model_config"):
        if value in EMBEDDING_LOSSES and value not in getattr(cls, "own_losses", ()):
            name = loss_pb2.LossType.Name(value)
            ctx.fail(path, f"loss_type {name} is not supported: model_class "
                     f"{model.model_class} does not compute it (embedding models such as "
                     "CoMetricLearningI2I and DropoutNet do)")


def _loss_types(message: Message, path: str) -> Iterator[tuple[str, int]]:
    """(path, value) of every LossType field set in `message` and its sub-messages."""
    for field, value in message.ListFields():
        where = f"{path}.{field.name}"
        if field.message_type is not None and field.message_type.GetOptions().map_entry:
            if field.message_type.fields_by_name["value"].message_type is not None:
                for key, item in value.items():
                    yield from _loss_types(item, f"{where}[{key!r}]")
            continue
        values = value if field.is_repeated else [value]
        for i, item in enumerate(values):
            at = f"{where}[{i}]" if field.is_repeated else where
            if field.message_type is not None:
                yield from _loss_types(item, at)
            elif field.enum_type is not None and field.enum_type.full_name == LOSS_TYPE:
                yield at, item


def check_matching_settings(ctx: CheckContext) -> None:
    """Retrieval metrics need a matching model; a sampler of data_config (negative_sampler,
    negative_sampler_v2, ...) a model that draws negatives (uses_negative_sampler)."""
    config = ctx.config
    model_class = config.model_config.model_class
    cls = registry.get_model_class(model_class)
    if issubclass(cls, MatchModel):
        return
    sampler = config.data_config.WhichOneof("sampler")
    if sampler and not getattr(cls, "uses_negative_sampler", False):
        ctx.fail(f"data_config.{sampler}", f"model_class {model_class} does not use "
                 "a negative sampler (matching models such as DSSM do)")
    for i, metric in enumerate(config.eval_config.metrics_set):
        if metric.WhichOneof("metric") in RETRIEVAL_METRICS:
            ctx.fail(f"eval_config.metrics_set[{i}]", f"{metric.WhichOneof('metric')} ranks "
                     f"items by user and item embeddings; model_class {model_class} is not "
                     "a matching model (such as DSSM)")


def check_losses(ctx: CheckContext) -> None:
    """The losses of every task (model_config.losses / loss_type, or each task tower's),
    model_config.kd, and where `losses`, embedding losses and variational_dropout apply."""
    config = ctx.config
    model = config.model_config
    cls = registry.get_model_class(model.model_class)
    inputs = {f.input_name for f in config.data_config.input_fields}
    labels = list(config.data_config.label_fields) or ["label"]
    strategy = model.loss_weight_strategy
    if model.label_name and model.label_name not in labels:
        ctx.fail("model_config.label_name", f"label_name {model.label_name!r} must be one of "
                 f"data_config.label_fields ({', '.join(labels)})")
    check_own_losses(ctx, cls)
    if model.grad_norm and not getattr(cls, "supports_grad_norm", False):
        ctx.fail("model_config.grad_norm", f"grad_norm is not supported: model_class "
                 f"{model.model_class} has no shared layer to balance (EasyRec defines it for "
                 "DBMTL's bottom_dnn only)")
    if model.grad_norm_alpha < 0:
        ctx.fail("model_config.grad_norm_alpha", f"grad_norm_alpha must be >= 0, got "
                 f"{model.grad_norm_alpha}")
    if issubclass(cls, MatchModel):
        if model.HasField("variational_dropout"):
            ctx.fail("model_config.variational_dropout", "variational_dropout applies to "
                     f"ranking and multi-task models, not to {model.model_class}")
    elif issubclass(cls, MultiTaskModel):
        for where, tower in cls.towers_in(model):
            check_task_losses(where, tower.losses, tower.loss_type, max(tower.num_class, 1),
                              strategy, inputs, ctx.locate,
                              getattr(tower, "relation_tower_names", None))
            space = tower.task_space_indicator_label
            if space and space not in labels:
                ctx.fail(f"{where}.task_space_indicator_label", f"task_space_indicator_label "
                         f"{space!r} must be one of data_config.label_fields "
                         f"({', '.join(labels)})")
    elif getattr(cls, "reads_losses", True):  # the others check their own loss
        check_task_losses("model_config", model.losses, model.loss_type,
                          max(model.num_class, 1), strategy, inputs, ctx.locate)
    check_distillation(model, labels, inputs, ctx.locate)
    if model.variational_dropout.regularization_lambda < 0:
        ctx.fail("model_config.variational_dropout.regularization_lambda",
                 "regularization_lambda must be >= 0")
