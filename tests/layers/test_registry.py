"""The layer registry: every layer class registers itself once, by component name."""
from __future__ import annotations

import inspect
import pkgutil

import pytest

import easy_rec.layers as layers_package
from easy_rec.layers.base import Layer
from easy_rec.layers.core import MLP
from easy_rec.layers.registry import get_layer_class, register_layer, registered_layers


def test_every_layer_class_is_registered():
    registered = set(registered_layers().values())
    for info in pkgutil.iter_modules(layers_package.__path__):
        module = __import__(f"easy_rec.layers.{info.name}", fromlist=["_"])
        for _, cls in inspect.getmembers(module, inspect.isclass):
            if issubclass(cls, Layer) and cls is not Layer and cls.__module__ == module.__name__:
                assert cls in registered, f"{cls.__name__} is not registered"


def test_easy_rec_component_names():
    layers = registered_layers()
    for name in ("MLP", "CIN", "SENet", "BiLinear", "MaskBlock", "DIN", "MMoE"):
        assert name in layers
    assert get_layer_class("MLP") is MLP


def test_unknown_and_duplicate_names():
    with pytest.raises(KeyError,
                       match="unknown layer .Nope.; known: AITMTower, Activation, Add, Additive"):
        get_layer_class("Nope")
    with pytest.raises(ValueError, match="already registered by MLP"):
        register_layer("MLP")(type("Other", (Layer,), {}))
    with pytest.raises(TypeError, match="not an easy_rec Layer"):
        register_layer("NotALayer")(object)


def test_layers_do_not_import_protos():
    for info in pkgutil.iter_modules(layers_package.__path__):
        source = inspect.getsource(__import__(f"easy_rec.layers.{info.name}", fromlist=["_"]))
        assert "easy_rec.protos" not in source, info.name
