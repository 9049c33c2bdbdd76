"""Shorthands of EasyRec's config language that stand for several entries, expanded on load.

- Name ranges: ``field[1-3]`` stands for field1, field2, field3 (inclusive, numbers written
  without padding). With ``data_config.auto_expand_input_fields: true`` an input field named
  ``field[1-21]`` is replaced by 21 input fields of the same type and default; the
  ``feature_names`` of a feature group always expand their ranges (as EasyRec's FeatureGroup).
- ``shared_names`` of a feature: one more feature per shared name, a copy of it reading that
  column (input_names = [name], feature_name cleared), appended to the feature list (as
  EasyRec's auto_expand_share_feature_configs; the names expand their ranges with
  auto_expand_input_fields).

Each expansion records, for the entries of the repeated field it rewrote, the index of the
entry written in the file, so errors point at the line the user wrote (`original_path`).
"""
from __future__ import annotations

import re

from google.protobuf.message import Message

from easy_rec.config.errors import ConfigError
from easy_rec.config.features import OLD_FEATURES_FIELD, feature_list_field

_RANGE = re.compile(r"^(?P<prefix>.*)\[(?P<first>\d+)-(?P<last>\d+)\]$")


def expand_name_range(name: str) -> list[str] | None:
    """The names ``name`` stands for when it is a range like ``field[1-3]``, else None."""
    match = _RANGE.match(name)
    if match is None:
        return None
    first, last = int(match["first"]), int(match["last"])
    if last < first:
        return None
    return [f"{match['prefix']}{i}" for i in range(first, last + 1)]


def expand_input_fields(config: Message) -> list[int]:
    """Expands ranged input field names in place when the config asks for it.

    Returns, for each input field after expansion, the index of the field it came from (so
    errors can point at the line the user wrote).
    """
    data = config.data_config
    fields = list(data.input_fields)
    if not data.auto_expand_input_fields:
        return list(range(len(fields)))
    expanded: list[tuple[int, Message]] = []
    for index, field in enumerate(fields):
        names = expand_name_range(field.input_name) or [field.input_name]
        for name in names:
            copy = type(field)()
            copy.CopyFrom(field)
            copy.input_name = name
            expanded.append((index, copy))
    del data.input_fields[:]
    for _, field in expanded:
        data.input_fields.add().CopyFrom(field)
    return [index for index, _ in expanded]


def expand_shared_names(config: Message) -> dict[str, list[int]]:
    """Adds a copy of each feature with shared_names per shared name (see the module
    docstring); returns the origins of the feature list when it grew."""
    try:
        path = feature_list_field(config)
    except ConfigError:
        return {}  # both layouts: the feature checks report it
    features = config.feature_configs if path == OLD_FEATURES_FIELD else config.feature_config.features
    written = len(features)
    origins = list(range(written))
    ranges = config.data_config.auto_expand_input_fields
    for index in range(written):
        feature = features[index]
        shared = [n for name in feature.shared_names
                  for n in ((ranges and expand_name_range(name)) or [name])]
        del feature.shared_names[:]
        for name in shared:
            copy = features.add()
            copy.CopyFrom(feature)
            copy.ClearField("feature_name")
            del copy.input_names[:]
            copy.input_names.append(name)
            origins.append(index)
    return {path: origins} if len(origins) > written else {}


def expand_group_feature_names(config: Message) -> dict[str, list[int]]:
    """Expands the name ranges of every feature group's feature_names in place; returns the
    origins of each group whose names changed."""
    origins: dict[str, list[int]] = {}
    for i, group in enumerate(config.model_config.feature_groups):
        expanded = [(j, n) for j, name in enumerate(group.feature_names)
                    for n in (expand_name_range(name) or [name])]
        if [n for _, n in expanded] == list(group.feature_names):
            continue
        del group.feature_names[:]
        group.feature_names.extend(n for _, n in expanded)
        origins[f"model_config.feature_groups[{i}].feature_names"] = [j for j, _ in expanded]
    return origins


def expand_config(config: Message) -> dict[str, list[int]]:
    """Every expansion of this module, in place; returns the origins of the repeated fields
    they rewrote (field path -> written index of each entry), for `original_path`."""
    origins = {"data_config.input_fields": expand_input_fields(config)}
    origins.update(expand_shared_names(config))
    origins.update(expand_group_feature_names(config))
    return origins


def original_path(field_path: str, origins: dict[str, list[int]]) -> str:
    """`field_path` with the index of an expanded entry replaced by the written one's."""
    for prefix, indexes in origins.items():
        match = re.match(re.escape(prefix) + r"\[(\d+)\]", field_path)
        if match and int(match[1]) < len(indexes):
            return f"{prefix}[{indexes[int(match[1])]}]{field_path[match.end():]}"
    return field_path
