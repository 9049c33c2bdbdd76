"""The model registry: a model's config block is the field of EasyRecModel's `model` oneof whose
message type is the one it registers with."""
from __future__ import annotations

import pytest
from google.protobuf import descriptor_pb2, descriptor_pool, message_factory

from easy_rec.models import registry
from easy_rec.protos import dnn_pb2, easy_rec_model_pb2, models_pb2

Field = descriptor_pb2.FieldDescriptorProto


@pytest.fixture
def scratch_registry(monkeypatch):
    """A copy of the registry, so that registrations made by a test do not outlive it."""
    monkeypatch.setattr(registry, "_MODELS", dict(registry._MODELS))
    monkeypatch.setattr(registry, "_CONFIG_FIELDS", dict(registry._CONFIG_FIELDS))


def fake_oneof(*field_names: str) -> tuple[type, object]:
    """(message class Block, the `model` oneof of a message Holder whose oneof fields, named
    `field_names`, all have type Block), in a pool of their own."""
    pool = descriptor_pool.DescriptorPool()
    proto = descriptor_pb2.FileDescriptorProto(name="fake_holder.proto", package="fake",
                                               syntax="proto2")
    proto.message_type.add(name="Block")
    holder = proto.message_type.add(name="Holder")
    holder.oneof_decl.add(name="model")
    for number, name in enumerate(field_names, start=1):
        holder.field.add(name=name, number=number, type=Field.TYPE_MESSAGE,
                         label=Field.LABEL_OPTIONAL, type_name=".fake.Block", oneof_index=0)
    pool.Add(proto)
    block = message_factory.GetMessageClass(pool.FindMessageTypeByName("fake.Block"))
    return block, pool.FindMessageTypeByName("fake.Holder").oneofs_by_name["model"]


@pytest.mark.parametrize(("model_class", "field"), [
    ("DeepFM", "deepfm"), ("DNN", "dnn"), ("DCNV2", "dcn_v2"), ("xDeepFM", "xdeepfm"),
    ("MultiTower", "multi_tower"), ("DIN", "multi_tower"), ("MultiTowerDIN", "multi_tower"),
    ("BST", "multi_tower"), ("MultiTowerBST", "multi_tower")])
def test_builtin_models_resolve_their_block(model_class, field):
    assert registry.model_config_field(model_class) == field


def test_every_registered_model_has_a_block_of_the_oneof():
    oneof = easy_rec_model_pb2.EasyRecModel.DESCRIPTOR.oneofs_by_name["model"]
    fields = {f.name for f in oneof.fields}
    assert {registry.model_config_field(m) for m in registry.registered_models()} <= fields


def test_register_model_finds_the_field_by_message(scratch_registry):
    class Fake:
        pass

    assert registry.register_model("FakeRegistered", models_pb2.FM)(Fake) is Fake
    assert registry.get_model_class("FakeRegistered") is Fake
    assert registry.model_config_field("FakeRegistered") == "fm"


def test_register_model_rejects_a_message_outside_the_oneof(scratch_registry):
    with pytest.raises(ValueError, match=r"no field of oneof easy_rec\.protos\.EasyRecModel\.model "
                                         r"has message type easy_rec\.protos\.DNN\b"):
        registry.register_model("FakeNoBlock", dnn_pb2.DNN)
    assert "FakeNoBlock" not in registry._MODELS


def test_register_model_rejects_a_field_name(scratch_registry):
    with pytest.raises(TypeError, match="expected a proto message class"):
        registry.register_model("FakeByName", "deepfm")


def test_config_field_of_an_ambiguous_message():
    block, oneof = fake_oneof("a", "b")
    with pytest.raises(ValueError, match=r"several fields of oneof fake\.Holder\.model have "
                                         r"message type fake\.Block \(a, b\)"):
        registry.config_field_of(block, oneof)
    block, oneof = fake_oneof("only")
    assert registry.config_field_of(block, oneof) == "only"
