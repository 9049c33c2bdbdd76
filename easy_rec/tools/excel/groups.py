"""Feature groups of each model type from the features sheet's user_item_other column.

- deepfm, wide_and_deep: ``wide``, ``deep`` or ``wide_and_deep`` (both; the default when the
  cell is empty) give the ``wide`` (WIDE) and ``deep`` (DEEP) groups.
- multi_tower: each value names a tower (``user``, ``item``, ``user_item``, ``other``, ...);
  the towers come in the order of their first feature.
- dssm: ``user`` or ``item``.

``label`` rows, ``weights`` columns and ``notneed`` columns are in no group.
"""
from __future__ import annotations

import logging
from dataclasses import dataclass, field

from easy_rec.tools.excel import layout
from easy_rec.tools.excel.spec import FeatureSpec, WorkbookSpec

logger = logging.getLogger(__name__)

GROUP_COLUMN = "user_item_other"


@dataclass
class Group:
    """A feature group: name, WideOrDeep enum name and its features in sheet order."""

    name: str
    wide_deep: str
    features: list[FeatureSpec] = field(default_factory=list)

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]


def assign_groups(spec: WorkbookSpec, model_type: str) -> list[Group]:
    """The feature groups `model_type` gets from the workbook; errors name the row."""
    features = [f for f in spec.features if f.is_model_feature]
    for feature in features:
        if feature.group == layout.LABEL:
            raise feature.row.error(GROUP_COLUMN, f"{feature.type} feature {feature.name!r} is in "
                                    "group 'label'; only the label column may be")
    if model_type in ("deepfm", "wide_and_deep"):
        groups = _wide_and_deep_groups(features, model_type)
        if model_type == "deepfm":
            _check_fm_dims(groups[1])
    elif model_type == "multi_tower":
        groups = _tower_groups(features, model_type, allowed=None)
    elif model_type == "dssm":
        groups = _tower_groups(features, model_type, allowed=layout.DSSM_GROUPS)
    else:
        raise ValueError(f"unknown model_type {model_type!r}; known: {layout.MODEL_TYPES}")
    _require_non_empty(spec, groups, model_type)
    logger.info("groups for %s: %s", model_type,
                "; ".join(f"{g.name}: {', '.join(g.feature_names)}" for g in groups))
    return groups


def _wide_and_deep_groups(features: list[FeatureSpec], model_type: str) -> list[Group]:
    wide, deep = Group(layout.WIDE, "WIDE"), Group(layout.DEEP, "DEEP")
    for feature in features:
        value = feature.group or layout.WIDE_AND_DEEP
        if value not in layout.WIDE_DEEP_GROUPS:
            raise feature.row.error(GROUP_COLUMN, f"group {feature.group!r} is not a {model_type} "
                                    f"group; use {', '.join(layout.WIDE_DEEP_GROUPS)} (or leave "
                                    f"it empty for {layout.WIDE_AND_DEEP})")
        if value in (layout.WIDE, layout.WIDE_AND_DEEP):
            wide.features.append(feature)
        if value in (layout.DEEP, layout.WIDE_AND_DEEP):
            deep.features.append(feature)
    return [wide, deep]


def _tower_groups(features: list[FeatureSpec], model_type: str,
                  allowed: tuple[str, ...] | None) -> list[Group]:
    groups: dict[str, Group] = {name: Group(name, "DEEP") for name in allowed or ()}
    for feature in features:
        if not feature.group:
            expected = ", ".join(allowed) if allowed else "user, item, user_item or other"
            raise feature.row.error(GROUP_COLUMN, f"{feature.type} feature {feature.name!r} has "
                                    f"no group; {model_type} needs its tower ({expected})")
        if allowed is not None and feature.group not in allowed:
            raise feature.row.error(GROUP_COLUMN, f"group {feature.group!r} is not a "
                                    f"{model_type} tower; use {' or '.join(allowed)}")
        groups.setdefault(feature.group, Group(feature.group, "DEEP")).features.append(feature)
    return list(groups.values())


def _require_non_empty(spec: WorkbookSpec, groups: list[Group], model_type: str) -> None:
    if not groups:
        raise spec.table.error(f"no feature columns: {model_type} needs columns of type "
                               f"{', '.join(layout.MODEL_FEATURE_TYPES)}", key="type")
    for group in groups:
        if not group.features:
            raise spec.table.error(f"no feature is in group {group.name!r}, which {model_type} "
                                   "needs", key=GROUP_COLUMN)


def _check_fm_dims(deep: Group) -> None:
    """DeepFM's FM term takes the dot products of the deep group's embeddings: equal dims."""
    embedded = [f for f in deep.features if f.is_categorical]
    if not embedded:
        return
    first = embedded[0]
    for feature in embedded[1:]:
        if feature.embedding_dim != first.embedding_dim:
            source = feature.source("embedding_dim")
            via = "" if source is feature.row else f" (from global {feature.global_name!r})"
            raise feature.row.error("embedding_dim", f"deepfm needs one embedding_dim for all "
                                    f"deep features (the FM term); {feature.name!r} has "
                                    f"{feature.embedding_dim}{via}, {first.name!r} (row "
                                    f"{first.row.number}) has {first.embedding_dim}")
