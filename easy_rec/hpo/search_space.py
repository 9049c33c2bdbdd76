"""The search space: NNI's JSON format with ``--edit_config_json`` paths as parameter names.

::

    {
      "feature_config.features[:].embedding_dim": {"_type": "choice", "_value": [8, 16, 32]},
      "model_config.deepfm.dnn.hidden_units[0]": {"_type": "quniform", "_value": [64, 512, 64]},
      "train_config.optimizer_config[0].adam_optimizer.learning_rate.exponential_decay_learning_rate.initial_learning_rate":
          {"_type": "loguniform", "_value": [0.0001, 0.01]}
    }

`validate_search_space` checks the format and applies every key with representative values
(each choice; the bounds and an inner point of a range) to a copy of the base config, so a
misspelt path or a value of the wrong type is reported, naming the key, before anything is
launched. Values that parse but fail the config checks (``embedding_dim: 0``) only give
warnings: a trial that draws one fails and is recorded as failed.
"""
from __future__ import annotations

import contextlib
import json
import logging
import math
from collections.abc import Iterator, Mapping
from typing import Any

from google.protobuf.message import Message

from easy_rec.config.edit import apply_edits
from easy_rec.config.errors import ConfigError

logger = logging.getLogger(__name__)

# _type -> number of entries in _value (None: any non-empty list)
PARAMETER_TYPES: dict[str, int | None] = {
    "choice": None, "randint": 2,
    "uniform": 2, "quniform": 3, "loguniform": 2, "qloguniform": 3,
    "normal": 2, "qnormal": 3, "lognormal": 2, "qlognormal": 3,
}
# Fields every trial sets itself.
RESERVED_KEYS = frozenset({"model_dir"})
_INNER = 0.381966  # an inner point of a range that is rarely a round number


class SearchSpaceError(ValueError):
    """A search space problem; `key` names the parameter when there is one."""

    def __init__(self, reason: str, key: str | None = None):
        super().__init__(f"search space key {key!r}: {reason}" if key else reason)
        self.key = key
        self.reason = reason


def load_search_space(path: str) -> dict[str, Any]:
    """The search space JSON object in file `path`; SearchSpaceError when unreadable."""
    try:
        with open(path, encoding="utf-8") as f:
            space = json.load(f)
    except OSError as error:
        raise SearchSpaceError(f"cannot read search space {path}: "
                               f"{error.strerror or error}") from None
    except json.JSONDecodeError as error:
        raise SearchSpaceError(f"search space {path} is not valid JSON: {error}") from None
    if not isinstance(space, dict):
        raise SearchSpaceError(f"search space {path} must be a JSON object mapping config "
                               f"paths to {{\"_type\": ..., \"_value\": ...}}")
    return space


def validate_search_space(space: Mapping[str, Any], base_config: Message,
                          config_path: str = "<config>") -> list[str]:
    """Checks `space` against `base_config`; raises SearchSpaceError naming the first bad key.

    Returns warnings for values that apply but fail the config checks (trials drawing them
    will fail).
    """
    if not space:
        raise SearchSpaceError("the search space is empty")
    warnings: list[str] = []
    for key, spec in space.items():
        check_parameter(key, spec)
        for value in sample_values(spec):
            warning = check_value(base_config, key, value, config_path)
            if warning:
                warnings.append(warning)
    for warning in warnings:
        logger.warning("search space: %s", warning)
    return warnings


def check_parameter(key: Any, spec: Any) -> None:
    """Checks the form of one parameter (name, _type, _value); SearchSpaceError if wrong."""
    if not isinstance(key, str) or not key.strip():
        raise SearchSpaceError(f"parameter name {key!r} must be a config path")
    if key.strip() in RESERVED_KEYS:
        raise SearchSpaceError("each trial sets its own model_dir; remove it from the "
                               "search space", key)
    if not isinstance(spec, Mapping) or "_type" not in spec or "_value" not in spec:
        raise SearchSpaceError('expected {"_type": ..., "_value": [...]}', key)
    kind, values = spec["_type"], spec["_value"]
    if kind not in PARAMETER_TYPES:
        raise SearchSpaceError(f"unknown _type {kind!r}; use one of "
                               f"{', '.join(PARAMETER_TYPES)}", key)
    if not isinstance(values, list) or not values:
        raise SearchSpaceError(f"_value of a {kind} parameter must be a non-empty list", key)
    if kind == "choice":
        _check_choice(key, values)
    else:
        _check_range(key, kind, values)


def _check_choice(key: str, values: list[Any]) -> None:
    for value in values:
        if isinstance(value, Mapping) and "_name" in value:
            raise SearchSpaceError("nested search spaces (choices with _name) are not "
                                   "supported; give each config path its own parameter", key)


def _check_range(key: str, kind: str, values: list[Any]) -> None:
    arity = PARAMETER_TYPES[kind]
    if len(values) != arity or not all(_is_number(v) for v in values):
        names = {2: "[low, high]", 3: "[low, high, q]"}
        if kind.lstrip("q") in ("normal", "lognormal"):
            names = {2: "[mu, sigma]", 3: "[mu, sigma, q]"}
        raise SearchSpaceError(f"_value of a {kind} parameter must be {names[arity]} "
                               f"(numbers), got {values!r}", key)
    if kind == "randint" and not all(float(v).is_integer() for v in values):
        raise SearchSpaceError(f"randint bounds must be integers, got {values!r}", key)
    if len(values) == 3 and values[2] <= 0:
        raise SearchSpaceError(f"q must be > 0, got {values[2]!r}", key)
    if kind.lstrip("q") in ("normal", "lognormal"):
        if values[1] <= 0:
            raise SearchSpaceError(f"sigma must be > 0, got {values[1]!r}", key)
        return
    if values[0] >= values[1]:
        raise SearchSpaceError(f"low must be < high, got {values[:2]!r}", key)
    if kind.lstrip("q") == "loguniform" and values[0] <= 0:
        raise SearchSpaceError(f"loguniform bounds must be > 0, got {values[:2]!r}", key)


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and \
        math.isfinite(value)


def sample_values(spec: Mapping[str, Any]) -> list[Any]:
    """Representative values a parameter can take: every choice; bounds and an inner point."""
    kind, values = spec["_type"], list(spec["_value"])
    if kind == "choice":
        return values
    if kind == "randint":
        low, high = int(values[0]), int(values[1])
        return sorted({low, high - 1})
    if kind in ("uniform", "quniform"):
        low, high = values[0], values[1]
        points = [low, high, low + (high - low) * _INNER]
    elif kind in ("loguniform", "qloguniform"):
        low, high = values[0], values[1]
        points = [low, high, math.exp(math.log(low) + (math.log(high) - math.log(low)) * _INNER)]
    elif kind in ("normal", "qnormal"):
        points = [values[0], values[0] + values[1] * _INNER]
        low, high = -math.inf, math.inf
    else:  # lognormal, qlognormal
        points = [math.exp(values[0]), math.exp(values[0] + values[1] * _INNER)]
        low, high = 0.0, math.inf
    if kind.startswith("q"):
        q = values[2]
        points = [min(max(round(p / q) * q, low), high) for p in points]
    return points


def check_value(base_config: Message, key: str, value: Any, config_path: str) -> str | None:
    """Applies ``{key: value}`` to a copy of `base_config`.

    Raises SearchSpaceError when the edit itself fails (unknown path, wrong type); returns a
    warning when the edited config fails the config checks; None when all is well.
    """
    from easy_rec.pipeline import validate_pipeline_config

    config = type(base_config)()
    config.CopyFrom(base_config)
    with _quiet("easy_rec.config.edit"):
        try:
            apply_edits(config, {key: value})
        except ConfigError as error:
            raise SearchSpaceError(f"value {value!r} does not apply to the base config: "
                                   f"{error.reason}", key) from None
    try:
        validate_pipeline_config(config, lambda _: None, config_path)
    except ConfigError as error:
        field = f"{error.field}: " if error.field else ""
        return f"{key} = {value!r} fails the config checks ({field}{error.reason}); " \
               "trials that draw it will fail"
    return None


@contextlib.contextmanager
def _quiet(logger_name: str) -> Iterator[None]:
    """Raises `logger_name`'s level to WARNING for the duration (edits log every change)."""
    quieted = logging.getLogger(logger_name)
    level = quieted.level
    quieted.setLevel(logging.WARNING)
    try:
        yield
    finally:
        quieted.setLevel(level)
