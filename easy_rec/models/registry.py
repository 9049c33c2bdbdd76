"""Registry of model classes: each model module registers itself under its model_class name,
with the message of its block in model_config (a field of EasyRecModel's `model` oneof)."""
from __future__ import annotations

from collections.abc import Callable
from typing import TypeVar

from google.protobuf.descriptor import OneofDescriptor
from google.protobuf.message import Message

from easy_rec.protos import easy_rec_model_pb2

_MODELS: dict[str, type] = {}
_CONFIG_FIELDS: dict[str, str] = {}

T = TypeVar("T", bound=type)


def config_field_of(message: type[Message],
                    oneof: OneofDescriptor | None = None) -> str:
    """Name of the one field of `oneof` (default: EasyRecModel's `model` oneof) whose message
    type is `message`; ValueError when no field or several fields have that type."""
    if not (isinstance(message, type) and issubclass(message, Message)):
        raise TypeError(f"expected a proto message class (e.g. models_pb2.DeepFM), got "
                        f"{message!r}")
    oneof = oneof or easy_rec_model_pb2.EasyRecModel.DESCRIPTOR.oneofs_by_name["model"]
    wanted = message.DESCRIPTOR.full_name
    fields = [f.name for f in oneof.fields
              if f.message_type is not None and f.message_type.full_name == wanted]
    where = f"{oneof.containing_type.full_name}.{oneof.name}"
    if not fields:
        raise ValueError(f"no field of oneof {where} has message type {wanted}; add one to "
                         "the proto before registering a model with it")
    if len(fields) > 1:
        raise ValueError(f"several fields of oneof {where} have message type {wanted} "
                         f"({', '.join(fields)}); the model's block is ambiguous")
    return fields[0]


def register_model(model_class: str, config_message: type[Message]) -> Callable[[T], T]:
    """Class decorator: registers a model under `model_class`.

    `config_message` is the proto message of the model's block in `model_config` (e.g.
    ``models_pb2.DeepFM`` for ``DeepFM``); the block's field name (``deepfm``) is found in
    EasyRecModel's `model` oneof, and the config checker uses it to report a block that does
    not match the model class. Models may share a message (DIN and MultiTower both read
    ``multi_tower``).
    """
    config_field = config_field_of(config_message)

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
