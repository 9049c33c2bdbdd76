"""Registry of layers by component name, for configs that name a layer (backbone blocks).

Each layer module registers its classes with `@register_layer(name)`; the name is EasyRec's
component class name where the layer corresponds to one (MLP, CIN, SENet, BiLinear,
MaskBlock, DIN, MMoE, Dense, Add, ...), else the class's own name. `get_layer_class` and
`registered_layers` import every module of easy_rec.layers first, so the table is complete
whichever layers were imported before.

A registered layer that implements the classmethod `from_params(params, input_shape, name)`
is a backbone component: `keras_layer { class_name: "<name>" }` builds it
(`component_class`). A new component is one module of this package; nothing else changes.
"""
from __future__ import annotations

import importlib
import pkgutil
from collections.abc import Callable

from easy_rec.layers.base import Layer

_LAYERS: dict[str, type[Layer]] = {}
_NOT_LAYER_MODULES = frozenset({"base", "registry"})


def register_layer(name: str) -> Callable[[type[Layer]], type[Layer]]:
    """Class decorator adding a Layer subclass to the registry under `name`."""

    def add(cls: type[Layer]) -> type[Layer]:
        if not issubclass(cls, Layer):
            raise TypeError(f"layer {name!r}: {cls.__name__} is not an easy_rec Layer")
        if _LAYERS.get(name, cls) is not cls:
            raise ValueError(f"layer name {name!r} is already registered by "
                             f"{_LAYERS[name].__name__}")
        _LAYERS[name] = cls
        return cls

    return add


def _import_layer_modules() -> None:
    import easy_rec.layers as package

    for module in pkgutil.iter_modules(package.__path__):
        if module.name not in _NOT_LAYER_MODULES:
            importlib.import_module(f"{package.__name__}.{module.name}")


def registered_layers() -> dict[str, type[Layer]]:
    """Component name -> layer class, for every layer of easy_rec.layers."""
    _import_layer_modules()
    return dict(sorted(_LAYERS.items()))


def get_layer_class(name: str) -> type[Layer]:
    """The layer class registered under `name` (KeyError listing the known names)."""
    layers = registered_layers()
    if name not in layers:
        raise KeyError(f"unknown layer {name!r}; known: {', '.join(layers)}")
    return layers[name]


class UnsupportedComponent(ValueError):
    """A keras_layer class_name that no backbone component has."""


#: EasyRec components refused with their reason
REFUSED_COMPONENTS = {
    "TextNormalize": "its normalisation rules (norm_parameter flags) are compiled into EasyRec's "
                     "prebuilt custom-op library (text_normalize_op of libcustom_ops.so, whose "
                     "source is not published), so its output cannot be reproduced; normalise "
                     "the text before training",
}


def component_names() -> list[str]:
    """Names usable as keras_layer.class_name (registered layers with `from_params`)."""
    return [name for name, cls in registered_layers().items() if hasattr(cls, "from_params")]


def component_class(name: str) -> type[Layer]:
    """The backbone component registered as `name`; UnsupportedComponent ("... is not
    supported") for any other name."""
    layers = registered_layers()
    if name in REFUSED_COMPONENTS:
        raise UnsupportedComponent(f"class_name {name!r} is not supported: "
                                   f"{REFUSED_COMPONENTS[name]}")
    if name not in layers or not hasattr(layers[name], "from_params"):
        raise UnsupportedComponent(
            f"class_name {name!r} is not supported: no easy_rec component has that name "
            f"(components: {', '.join(component_names())})")
    return layers[name]
