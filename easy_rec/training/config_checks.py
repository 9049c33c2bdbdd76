"""Checks of train_config (optimizers, clipping) and of the drift guard of streaming jobs."""
from __future__ import annotations

import re

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.training.stop_signals import parse_dead_line

#: optimizer_config blocks the trainer uses: the embedding one, then the dense one (EasyRec's order)
MAX_OPTIMIZERS = 2


def check_train_config(ctx: CheckContext) -> None:
    """One or two optimizers, each with a learning rate; non-negative clipping."""
    train = ctx.config.train_config
    optimizers = train.optimizer_config
    if not optimizers:
        ctx.fail("train_config.optimizer_config", "train_config needs an optimizer_config",
                 line_field="train_config")
    if len(optimizers) > MAX_OPTIMIZERS:
        ctx.fail(f"train_config.optimizer_config[{MAX_OPTIMIZERS}]", f"at most "
                 f"{MAX_OPTIMIZERS} optimizer_config blocks are supported (embedding, then "
                 f"dense); found {len(optimizers)}")
    for i, optimizer in enumerate(optimizers):
        _check_optimizer(ctx, optimizer, f"train_config.optimizer_config[{i}]")
    if train.gradient_clipping_by_norm < 0:
        ctx.fail("train_config.gradient_clipping_by_norm", "gradient_clipping_by_norm must "
                 f"be >= 0, got {train.gradient_clipping_by_norm}")
    if train.HasField("dead_line"):
        try:
            parse_dead_line(train.dead_line)
        except ValueError as error:
            ctx.fail("train_config.dead_line", str(error))
    for i, pattern in enumerate(train.freeze_gradient):
        try:
            re.compile(pattern)
        except re.error as error:
            ctx.fail(f"train_config.freeze_gradient[{i}]", f"{pattern!r} is not a regular "
                     f"expression: {error}")


def _check_optimizer(ctx: CheckContext, optimizer: Message, where: str) -> None:
    kind = optimizer.WhichOneof("optimizer")
    if kind is None:
        names = ", ".join(f.name for f in optimizer.DESCRIPTOR.oneofs_by_name["optimizer"].fields)
        ctx.fail(where, f"no optimizer is set; use one of {names}")
    params = getattr(optimizer, kind)
    if not params.HasField("learning_rate") or params.learning_rate.WhichOneof(
            "learning_rate") is None:
        ctx.fail(f"{where}.{kind}.learning_rate", f"{kind} needs a learning_rate "
                 "(e.g. learning_rate { constant_learning_rate { learning_rate: 0.001 } })")


def check_drift_guard(ctx: CheckContext) -> None:
    """drift_guard needs a Kafka training input and consistent bounds."""
    config = ctx.config
    if not config.HasField("drift_guard"):
        return
    guard = config.drift_guard
    if config.WhichOneof("train_path") != "kafka_train_input":
        ctx.fail("drift_guard", "drift_guard watches a stream: it needs kafka_train_input")
    if guard.window_size <= 0:
        ctx.fail("drift_guard.window_size", "window_size must be > 0")
    if guard.seen_id_buckets <= 0:
        ctx.fail("drift_guard.seen_id_buckets", "seen_id_buckets must be > 0")
    for name in ("min_positive_ratio", "max_positive_ratio", "max_missing_rate",
                 "max_unseen_id_rate", "min_auc"):
        _require_share(ctx, f"drift_guard.{name}", getattr(guard, name))
    if guard.min_positive_ratio > guard.max_positive_ratio:
        ctx.fail("drift_guard.max_positive_ratio", f"max_positive_ratio "
                 f"{guard.max_positive_ratio:g} is below min_positive_ratio "
                 f"{guard.min_positive_ratio:g}")
    if guard.max_mean_shift < 0:
        ctx.fail("drift_guard.max_mean_shift", "max_mean_shift must be >= 0 (0: off)")
    if guard.max_std_ratio != 0 and guard.max_std_ratio < 1:
        ctx.fail("drift_guard.max_std_ratio", "max_std_ratio must be >= 1 (or 0: off), got "
                 f"{guard.max_std_ratio:g}")
    for i, column in enumerate(guard.column_missing_rate):
        where = f"drift_guard.column_missing_rate[{i}]"
        ctx.require_input(column.input_name, f"{where}.input_name", "column")
        _require_share(ctx, f"{where}.max_missing_rate", column.max_missing_rate)


def _require_share(ctx: CheckContext, where: str, value: float) -> None:
    if not 0.0 <= value <= 1.0:
        ctx.fail(where, f"must be within [0, 1], got {value:g}")
