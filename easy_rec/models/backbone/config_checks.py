"""Checks of model_config.backbone: the DAG's structure (spec.py), every snippet within the
expression grammar, every keras_layer class_name a component, and a model class that reads a
backbone. Component parameters are checked when the model is built (they depend on input
shapes); a config that passes here and fails there names the same field paths."""
from __future__ import annotations

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.features.base import feature_type_name
from easy_rec.features.passthrough_feature import reads_strings, string_columns
from easy_rec.features.sequence_feature import sequence_max_len
from easy_rec.layers.registry import UnsupportedComponent, component_class
from easy_rec.models import registry
from easy_rec.models.backbone.block import Block
from easy_rec.models.backbone.group_values import check_embedding_layer
from easy_rec.models.backbone.network import BACKBONE_PATH, wide_output_dim
from easy_rec.models.backbone.spec import BackboneError, analyse


def check_backbone(ctx: CheckContext) -> None:
    """model_config.backbone, when set, is read by the model class and well formed."""
    model = ctx.config.model_config
    if not model.HasField("backbone"):
        return
    cls = registry.get_model_class(model.model_class)
    if not getattr(cls, "reads_backbone", False):
        readers = [n for n in registry.registered_models()
                   if getattr(registry.get_model_class(n), "reads_backbone", False)]
        ctx.fail(BACKBONE_PATH, f"backbone is not supported with model_class "
                 f"{model.model_class}: only {', '.join(readers)} read it")
    groups = [g.group_name for g in model.feature_groups]
    groups += [g.group_name for g in model.seq_att_groups]
    try:
        specs = analyse(model.backbone, groups)
        sequence_groups = {g.group_name for g in model.seq_att_groups}
        paired: dict[str, str] = {}  # feature group -> path of a block pairing it
        plain: dict[str, str] = {}  # feature group -> path of a block reading it plainly
        for spec in specs.values():
            for block in spec.blocks.values():
                if block.config is not None and block.group is None:
                    Block(block)  # parses its snippets
                    _check_components(block.config, block.path)
                elif block.kind == "embedding_layer":
                    check_embedding_layer(block.config.embedding_layer,
                                          f"{block.path}.embedding_layer")
                elif block.group is not None and block.group not in sequence_groups:
                    pairs = (block.config is not None
                             and block.config.input_layer.output_seq_and_normal_feature)
                    (paired if pairs else plain).setdefault(block.group, block.path)
        for group, path in paired.items():
            _check_paired_group(ctx, group, f"{path}.input_layer.output_seq_and_normal_feature",
                                plain.get(group))
        wide_output_dim(model)
    except BackboneError as error:
        ctx.fail(error.field, error.reason)
    if model.backbone.HasField("top_mlp") and not model.backbone.top_mlp.hidden_units:
        ctx.fail(f"{BACKBONE_PATH}.top_mlp.hidden_units", "top_mlp needs hidden_units")


def check_text_groups(ctx: CheckContext) -> None:
    """A feature group holding a text feature (a PassThroughFeature over a STRING column) is
    read by backbone raw_input blocks only: its strings have no embedding or dense value."""
    model = ctx.config.model_config
    strings = string_columns(ctx.config.data_config)
    readers: dict[str, list[tuple[str, str | None]]] = {}  # group -> (field path, kind)
    if model.HasField("backbone"):
        try:
            specs = analyse(model.backbone, [g.group_name for g in model.feature_groups]
                            + [g.group_name for g in model.seq_att_groups])
        except BackboneError:
            return  # check_backbone reports it
        for spec in specs.values():
            for block in spec.blocks.values():
                if block.group is not None:  # an input_layer / raw_input / ... block
                    path = block.path if block.config is None else f"{block.path}.{block.kind}"
                    readers.setdefault(block.group, []).append((path, block.kind))
    for i, group in enumerate(model.feature_groups):
        text = [n for n in group.feature_names if n in ctx.features_by_name
                and reads_strings(ctx.features_by_name[n][1], strings)]
        if not text:
            continue
        where = f"model_config.feature_groups[{i}]"
        if not model.HasField("backbone"):
            ctx.fail(where, f"feature group {group.group_name!r} holds text features "
                     f"({', '.join(text)}: PassThroughFeatures over STRING columns), which "
                     "only a backbone raw_input block reads")
        for path, kind in readers.get(group.group_name, []):
            if kind != "raw_input":
                ctx.fail(path, f"feature group {group.group_name!r} holds text features "
                         f"({', '.join(text)}: PassThroughFeatures over STRING columns), "
                         f"which only a raw_input block reads, not {kind}")


def _check_paired_group(ctx: CheckContext, group: str, path: str, plain: str | None) -> None:
    """A feature group read as (sequence, target): SequenceFeatures of one max_seq_len, no
    sequence_features entries, and no block reading it as an ordinary group."""
    config = next(g for g in ctx.config.model_config.feature_groups if g.group_name == group)
    if plain is not None:
        raise BackboneError(path, f"feature group {group!r} is read with "
                            f"output_seq_and_normal_feature here and as an ordinary group by "
                            f"{plain}; give the two readings two feature groups")
    if config.sequence_features:
        raise BackboneError(path, f"feature group {group!r} is read as (sequence, target), so "
                            "its sequence_features (target attention) would be lost; move them "
                            "to another feature group")
    lengths = {sequence_max_len(ctx.features_by_name[n][1]): n for n in config.feature_names
               if n in ctx.features_by_name
               and feature_type_name(ctx.features_by_name[n][1]) == "SequenceFeature"}
    if not lengths:
        raise BackboneError(path, f"output_seq_and_normal_feature reads the SequenceFeatures of "
                            f"feature group {group!r} as the sequence; it has none")
    if len(lengths) > 1:
        found = ", ".join(f"{n} ({length})" for length, n in lengths.items())
        raise BackboneError(path, f"the SequenceFeatures of feature group {group!r} are "
                            f"concatenated per element, so they need one max_seq_len; found "
                            f"{found}")


def _check_components(block: Message, path: str) -> None:
    """BackboneError for a layer without a component, or a class_name no component has."""
    layers = ([(layer, f"{path}.layers[{i}]") for i, layer in enumerate(block.layers)]
              or [(block, path)])
    for layer, where in layers:
        kind = layer.WhichOneof("layer")
        if kind in ("repeat", "recurrent"):
            wrapper = getattr(layer, kind)
            count = wrapper.num_repeat if kind == "repeat" else wrapper.num_steps
            if count < 1:
                field = "num_repeat" if kind == "repeat" else "num_steps"
                raise BackboneError(f"{where}.{kind}.{field}", f"{field} must be >= 1")
            if not wrapper.HasField("keras_layer"):
                raise BackboneError(f"{where}.{kind}", f"a {kind} layer needs a keras_layer")
            _check_class_name(wrapper.keras_layer.class_name, f"{where}.{kind}.keras_layer")
        elif kind == "keras_layer":
            _check_class_name(layer.keras_layer.class_name, f"{where}.keras_layer")


def _check_class_name(name: str, path: str) -> None:
    try:
        component_class(name)
    except UnsupportedComponent as error:
        raise BackboneError(f"{path}.class_name", str(error)) from None
