"""Checks of data_config that need nothing but the config: the block, batch size, input
field names, label and sample-weight columns. Reader-specific checks (input types, paths,
separators, defaults, Kafka) live in `easy_rec.input.config_checks`."""
from __future__ import annotations

from easy_rec.config.context import CheckContext


def check_data_config_present(ctx: CheckContext) -> None:
    """The config has a data_config block."""
    if not ctx.config.HasField("data_config"):
        ctx.fail("data_config", "missing: the config needs a data_config block with the "
                 "input fields")


def check_batch_size(ctx: CheckContext) -> None:
    """batch_size is positive."""
    batch_size = ctx.config.data_config.batch_size
    if batch_size <= 0:
        ctx.fail("data_config.batch_size", f"batch_size must be > 0, got {batch_size}")


def check_input_field_names(ctx: CheckContext) -> None:
    """Every input field has a name, and no name is used twice."""
    seen: dict[str, int] = {}
    for i, field in enumerate(ctx.config.data_config.input_fields):
        where = f"data_config.input_fields[{i}].input_name"
        if not field.input_name:
            ctx.fail(where, "input_name must not be empty")
        if field.input_name in seen:
            first = f"data_config.input_fields[{seen[field.input_name]}]"
            ctx.fail(where, f"input field {field.input_name!r} is defined twice (first at "
                     f"{first}, line {ctx.locate(first)})")
        seen[field.input_name] = i


def check_label_columns(ctx: CheckContext) -> None:
    """label_fields and sample_weight name input fields."""
    data = ctx.config.data_config
    for i, label in enumerate(data.label_fields):
        ctx.require_input(label, f"data_config.label_fields[{i}]", "label field")
    if data.HasField("sample_weight") and data.sample_weight:
        ctx.require_input(data.sample_weight, "data_config.sample_weight", "sample_weight")
