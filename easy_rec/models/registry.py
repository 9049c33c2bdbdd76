"""Registry of model classes: each model module registers itself under its model_class name."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

_MODELS: dict[str, type] = {}
_CONFIG_FIELDS: dict[str, str] = {}

T = TypeVar("T", bound=type)


def register_model(model_class: str, config_field: str) -> Callable[[T], T]:
    """Class decorator: registers a model under `model_class`.

    `config_field` is the name of the block in `model_config` that holds the model's
    parameters (e.g. ``deepfm`` for ``DeepFM``); the config checker uses it to report a
    block that does not match the model class.
    """

    def wrap(cls: T) -> T:
        if model_class in _MODELS and _MODELS[model_class] is not cls:
            raise ValueError(f"model_class {model_class!r} is registered twice")
        _MODELS[model_class] = cls
        _CONFIG_FIELDS[model_class] = config_field
        return cls

    return wrap


def _load_builtin_models() -> None:
    from easy_rec import models  # noqa: F401  (importing the package imports every model module)


def get_model_class(model_class: str) -> type:
    """Returns the class registered under `model_class`; KeyError names the known ones."""
    _load_builtin_models()
    if model_class not in _MODELS:
        raise KeyError(f"unknown model_class {model_class!r}; known: {', '.join(sorted(_MODELS))}")
    return _MODELS[model_class]


def model_config_field(model_class: str) -> str:
    """Name of the model_config block that parameterises `model_class`."""
    get_model_class(model_class)
    return _CONFIG_FIELDS[model_class]


def registered_models() -> list[str]:
    """Sorted names of every registered model class."""
    _load_builtin_models()
    return sorted(_MODELS)
