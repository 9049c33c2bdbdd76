"""Params reads st_params (a Struct) and typed messages with EasyRec's get_or_default rules."""
from __future__ import annotations

import pytest
import tensorflow as tf

from easy_rec.layers.component import BlockContext, ParamError, Params, struct_params
from easy_rec.layers.registry import UnsupportedComponent, component_class, component_names
from easy_rec.protos import dnn_pb2, layer_pb2, masknet_pb2


def test_struct_values_are_converted_by_kind_or_default():
    params = struct_params({"units": 8, "rate": 0.5, "act": "relu", "sizes": [4, 2],
                            "flag": True, "nested": {"k": 3}}, "blocks[0].keras_layer.st_params")
    assert params.is_struct and params.message is None
    assert params.get("units", 1) == 8 and isinstance(params.get("units", 1), int)
    assert isinstance(params.get("units"), float)  # no default, no kind: the Struct's float
    assert params.get("rate", 0.0) == 0.5
    assert params.get("sizes", [], int) == [4, 2]
    assert params.get("missing", 7) == 7
    assert params.get("flag", False) is True
    assert params.child("nested").get("k", 0) == 3
    assert params.child("nested").path == "blocks[0].keras_layer.st_params.nested"
    assert not params.child("absent").has("k")
    assert sorted(params.keys()) == ["act", "flag", "nested", "rate", "sizes", "units"]


def test_typed_message_unset_fields_take_the_component_default():
    mlp = dnn_pb2.MLP(hidden_units=[8, 4], use_final_bn=False)
    params = Params(mlp, "mlp")
    assert params.message is mlp and not params.is_struct
    assert params.get("hidden_units", []) == [8, 4]
    assert params.get("use_final_bn", True) is False
    # not set: a number / bool takes the component's default, a string its proto default
    assert params.get("use_bn", False) is False
    assert params.get("final_activation", None) == "relu"
    assert not params.has("dropout_ratio") and params.get("dropout_ratio", []) == []
    assert not params.has("no_such_field")


def test_nested_and_repeated_messages_are_params():
    net = masknet_pb2.MaskNet(mask_blocks=[masknet_pb2.MaskBlock(aggregation_size=4)])
    net.mlp.hidden_units.append(3)
    params = Params(net, "masknet")
    blocks = params.get("mask_blocks", [])
    assert [b.get("aggregation_size", 0) for b in blocks] == [4]
    assert blocks[0].path == "masknet.mask_blocks[0]"
    assert params.child("mlp").get("hidden_units", []) == [3]
    assert Params(layer_pb2.MMoELayer(), "mmoe").child("expert_mlp").keys() == []


def test_errors_name_the_field():
    params = struct_params({"units": 2.5}, "st_params")
    with pytest.raises(ParamError, match=r"st_params.units: 2.5 is not a valid value"):
        params.get("units", 1)
    with pytest.raises(ParamError, match=r"st_params.rate: parameter 'rate' is required"):
        params.require("units", "rate")
    with pytest.raises(ParamError, match="expected nested parameters"):
        params.child("units")


def test_block_context_collects_losses_once_per_name():
    context = BlockContext(training=True)
    context.add_loss("aux", tf.constant(1.0))
    assert list(context.losses) == ["aux"]
    with pytest.raises(ValueError, match="added twice"):
        context.add_loss("aux", tf.constant(2.0))


def test_component_lookup_refuses_unknown_names():
    assert "MLP" in component_names()
    with pytest.raises(UnsupportedComponent, match="'Nope' is not supported"):
        component_class("Nope")
    with pytest.raises(UnsupportedComponent,
                       match="'TextNormalize' is not supported: its normalisation rules"):
        component_class("TextNormalize")
    assert {"EmbeddingLayer", "TextEncoder", "TransformerEncoder"} <= set(component_names())
