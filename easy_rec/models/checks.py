"""Config checks shared by the model classes' validate_config hooks."""
from __future__ import annotations

import logging

from google.protobuf.message import Message

from easy_rec.config.context import Locate
from easy_rec.config.errors import ConfigError
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.protos import easy_rec_model_pb2, feature_config_pb2

logger = logging.getLogger(__name__)


def require_groups(model_config: easy_rec_model_pb2.EasyRecModel, names: list[str],
                   locate: Locate) -> None:
    """Raises ConfigError unless every group in `names` is defined in model_config."""
    _require_named(model_config, names, "feature_groups", "a feature group", locate)


def require_sequence_groups(model_config: easy_rec_model_pb2.EasyRecModel, names: list[str],
                            locate: Locate) -> None:
    """Raises ConfigError unless every name in `names` is a model_config.seq_att_groups entry."""
    _require_named(model_config, names, "seq_att_groups", "a seq_att_groups entry", locate)


def _require_named(model_config: easy_rec_model_pb2.EasyRecModel, names: list[str], field: str,
                   what: str, locate: Locate) -> None:
    defined = {g.group_name for g in getattr(model_config, field)}
    for name in names:
        if name not in defined:
            raise ConfigError(
                f"{model_config.model_class} needs {what} named {name!r}; defined: "
                f"{', '.join(sorted(defined)) or 'none'}",
                line=locate(f"model_config.{field}") or locate("model_config"),
                field=f"model_config.{field}")


def require(condition: bool, field: str, reason: str, locate: Locate) -> None:
    """Raises ConfigError at `field` (a path such as 'model_config.dcn.cross_tower.cross_num';
    the line is that of its nearest written ancestor) unless `condition` holds."""
    if not condition:
        raise ConfigError(reason, line=locate(field), field=field)


def field_width(feature_layer: FeatureLayer, model_class: str, group: str, names: list[str]) -> int:
    """Common width of the deep outputs of features `names` of `group`, which a model stacks
    into [batch, fields, width]; ValueError naming every width when they differ.

    Called while building the model, since widths depend on the feature configs.
    """
    widths = {name: feature_layer.feature_dim(name) for name in names}
    if not widths:
        raise ValueError(f"{model_class} needs at least one embedded feature in group {group!r}")
    if len(set(widths.values())) != 1:
        found = ", ".join(f"{n}: {w}" for n, w in widths.items())
        raise ValueError(
            f"{model_class} stacks the features of group {group!r} as fields, so they need one "
            f"width (embedding_dim; a RawFeature needs an embedding_dim too); got {found}")
    return next(iter(widths.values()))


def _group_path(model_config: easy_rec_model_pb2.EasyRecModel, name: str,
                locate: Locate) -> tuple[str, feature_config_pb2.FeatureGroupConfig]:
    """(config path, FeatureGroupConfig) of the group named `name`; ConfigError if undefined."""
    require_groups(model_config, [name], locate)
    index = [g.group_name for g in model_config.feature_groups].index(name)
    return f"model_config.feature_groups[{index}]", model_config.feature_groups[index]


def require_field_group(model_config: easy_rec_model_pb2.EasyRecModel, name: str,
                        min_features: int, locate: Locate) -> None:
    """Raises ConfigError unless group `name` is defined, has deep outputs (wide_deep DEEP or
    WIDE_AND_DEEP) and lists at least `min_features` features (the fields a model interacts)."""
    path, group = _group_path(model_config, name, locate)
    require(group.wide_deep != feature_config_pb2.WIDE, f"{path}.wide_deep",
            f"{model_config.model_class} uses the embeddings of group {name!r}, so its "
            "wide_deep must be DEEP or WIDE_AND_DEEP", locate)
    require(len(group.feature_names) >= min_features, f"{path}.feature_names",
            f"{model_config.model_class} needs at least {min_features} features in group "
            f"{name!r}; found {len(group.feature_names)}", locate)


def require_wide_group(model_config: easy_rec_model_pb2.EasyRecModel, name: str,
                       locate: Locate) -> None:
    """Raises ConfigError unless group `name` is defined with wide_deep WIDE or WIDE_AND_DEEP."""
    path, group = _group_path(model_config, name, locate)
    require(group.wide_deep != feature_config_pb2.DEEP, f"{path}.wide_deep",
            f"{model_config.model_class} uses group {name!r} for its linear weights, so its "
            "wide_deep must be WIDE or WIDE_AND_DEEP", locate)


def sequence_group_name(model_config: easy_rec_model_pb2.EasyRecModel, params: Message) -> str:
    """The seq_att_groups entry named by a model block's `sequence_group` field, or the only
    entry when the field is empty ('' when it is empty and there are several or none)."""
    if params.sequence_group:
        return params.sequence_group
    groups = [g.group_name for g in model_config.seq_att_groups]
    return groups[0] if len(groups) == 1 else ""


def require_sequence_group(model_config: easy_rec_model_pb2.EasyRecModel, params: Message,
                           locate: Locate) -> str:
    """Raises ConfigError unless the model block's `sequence_group` (or the only
    seq_att_groups entry) exists; returns its name."""
    block = model_config.WhichOneof("model")
    name = sequence_group_name(model_config, params)
    require(bool(name), f"model_config.{block}.sequence_group",
            f"{model_config.model_class} reads one behaviour sequence: set {block}.sequence_group "
            f"or define exactly one seq_att_groups entry (found "
            f"{len(model_config.seq_att_groups)})", locate)
    require_sequence_groups(model_config, [name], locate)
    return name


#: multi_tower fields that hold sequence towers -> the model_class that reads them
SEQUENCE_TOWER_FIELDS = {"din_towers": "MultiTowerDIN", "bst_towers": "MultiTowerBST"}


def warn_ignored_sequence_towers(model_config: easy_rec_model_pb2.EasyRecModel,
                                 allowed: str | None) -> None:
    """Logs a warning for each sequence-tower field of model_config.multi_tower (see
    SEQUENCE_TOWER_FIELDS) other than `allowed`: this model class ignores it, as EasyRec's
    MultiTower does (its MultiTower proto holds all tower kinds; each model reads its own)."""
    for field, model_class in SEQUENCE_TOWER_FIELDS.items():
        if field != allowed and getattr(model_config.multi_tower, field):
            logger.warning("model_config.multi_tower.%s is ignored: model_class %s does not read "
                           "it (as in EasyRec); model_class %s does", field,
                           model_config.model_class, model_class)
