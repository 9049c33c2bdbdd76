"""Checks of the features and of the groups that arrange them (feature_groups,
seq_att_groups). Each feature type checks its own fields (`Feature.validate_config`)."""
from __future__ import annotations

import logging
import os

from google.protobuf.message import Message

from easy_rec.config.context import CheckContext
from easy_rec.config.features import feature_name
from easy_rec.config.resources import resolve_config_file
from easy_rec.features.base import (
    FeatureConfig,
    feature_class,
    feature_type_name,
    registered_feature_types,
)
from easy_rec.features.feature_layer import WIDE
from easy_rec.features.group_attention import SEQ_MODELS, key_width_problem
from easy_rec.features.raw_feature import raw_boundaries
from easy_rec.features.sequence_feature import sequence_max_len

TableSpec = tuple | None
logger = logging.getLogger(__name__)


def check_features(ctx: CheckContext) -> None:
    """Every feature: existing inputs, a unique name, a supported type and combiner, the
    fields its type reads; features sharing an embedding_name agree on the table."""
    if not ctx.features:
        ctx.fail("feature_config", "no features: list them in feature_config { features "
                 "{...} } (or the older feature_configs {...})", line_field="model_config")
    first_by_name: dict[str, str] = {}
    for where, feature in ctx.features:
        _check_feature(ctx, feature, where, first_by_name)
    _check_shared_embeddings(ctx)


def _check_feature(ctx: CheckContext, feature: Message, where: str,
                   first_by_name: dict[str, str]) -> None:
    if not feature.input_names:
        ctx.fail(f"{where}.input_names", "a feature needs at least one input_names entry")
    for k, name in enumerate(feature.input_names):
        ctx.require_input(name, f"{where}.input_names[{k}]", "input name")
    name = feature_name(feature)
    if name in first_by_name:
        first = first_by_name[name]
        name_field = f"{where}.feature_name" if feature.feature_name else f"{where}.input_names[0]"
        ctx.fail(name_field, f"feature name {name!r} is used twice (first by {first}, line "
                 f"{ctx.locate(first)}); give one of them a distinct feature_name")
    first_by_name[name] = where
    type_name = feature_type_name(feature)
    supported = registered_feature_types()
    if type_name not in supported:
        ctx.fail(f"{where}.feature_type", f"feature type {type_name} is not supported yet; "
                 f"supported: {', '.join(supported)}")
    if feature.HasField("sequence_combiner") and type_name != "SequenceFeature":
        logger.warning("%s: sequence_combiner of %s %r is ignored: it applies to "
                       "SequenceFeatures only (as in EasyRec)", where, type_name, name)
    cls = feature_class(type_name)
    combiners = cls.allowed_combiners(feature)
    if feature.combiner not in combiners:
        ctx.fail(f"{where}.combiner", f"combiner {feature.combiner!r} is not one of "
                 f"{', '.join(combiners)}")
    cls.validate_config(ctx, feature, where)


def _check_shared_embeddings(ctx: CheckContext) -> None:
    """Features with one embedding_name share a table: same dim and table size."""
    first: dict[str, tuple[str, Message]] = {}
    for where, feature in ctx.features:
        if not feature.embedding_name:
            continue
        if feature.embedding_name not in first:
            first[feature.embedding_name] = (where, feature)
            continue
        first_where, first_feature = first[feature.embedding_name]
        _compare_shared(ctx, first_feature, first_where, feature, where)


def _compare_shared(ctx: CheckContext, a: Message, a_where: str, b: Message, b_where: str) -> None:
    head = (f"features {feature_name(a)!r} ({a_where}, line {ctx.locate(a_where)}) and "
            f"{feature_name(b)!r} share embedding_name {b.embedding_name!r} but")
    if a.embedding_dim != b.embedding_dim:
        ctx.fail(f"{b_where}.embedding_dim", f"{head} have embedding_dim "
                 f"{a.embedding_dim} and {b.embedding_dim}")
    spec_a, spec_b = _table_spec(a, ctx.base_dir), _table_spec(b, ctx.base_dir)
    if spec_a != spec_b:
        ctx.fail(b_where, f"{head} differ in table size: {_describe(spec_a)} vs "
                 f"{_describe(spec_b)}")


def _table_spec(feature: Message, base_dir: str | None) -> TableSpec:
    """What decides the size of a feature's embedding table, for comparing shared tables."""
    kind = feature_type_name(feature)
    if kind == "RawFeature" or (kind == "SequenceFeature"
                                and feature.sub_feature_type == FeatureConfig.RawFeature):
        bounds = raw_boundaries(feature)  # buckets, else a projection of raw_input_dim rows
        return ("boundaries", len(bounds) + 1) if bounds else (
            "raw_input_dim", max(feature.raw_input_dim, 1))
    if feature.hash_bucket_size:
        return ("hash_bucket_size", feature.hash_bucket_size)
    if feature.num_buckets:
        return ("num_buckets", feature.num_buckets)
    if feature.vocab_list:
        return ("vocab_list size", len(feature.vocab_list) + feature.num_oov_buckets)
    if feature.vocab_file:
        resolved = resolve_config_file(feature.vocab_file, base_dir) or feature.vocab_file
        return ("vocab_file", os.path.abspath(resolved), feature.num_oov_buckets)
    return None


def _describe(spec: TableSpec) -> str:
    if spec is None:
        return "no bucket size"
    if spec[0] == "vocab_file":
        return f"vocab_file {spec[1]} (+{spec[2]} oov buckets)"
    return f"{spec[0]} {spec[1]}"


def check_feature_groups(ctx: CheckContext) -> None:
    """At least one feature group; unique, non-empty names; every member feature defined."""
    model = ctx.config.model_config
    if not model.feature_groups:
        ctx.fail("model_config.feature_groups", "model_config needs at least one "
                 "feature_groups block")
    seen: dict[str, int] = {}
    for i, group in enumerate(model.feature_groups):
        where = f"model_config.feature_groups[{i}]"
        if not group.group_name:
            ctx.fail(f"{where}.group_name", "group_name must not be empty")
        if group.group_name in seen:
            ctx.fail(f"{where}.group_name", f"group_name {group.group_name!r} is used twice "
                     f"(first by model_config.feature_groups[{seen[group.group_name]}])")
        seen[group.group_name] = i
        if not group.feature_names:
            ctx.fail(f"{where}.feature_names", f"feature group {group.group_name!r} has no "
                     "feature_names")
        for j, name in enumerate(group.feature_names):
            if name not in ctx.features_by_name:
                ctx.fail(f"{where}.feature_names[{j}]", f"feature group "
                         f"{group.group_name!r} names feature {name!r}, which is not "
                         f"defined; features: {', '.join(ctx.features_by_name)}")
        _check_group_attention(ctx, group, where)


def _check_group_attention(ctx: CheckContext, group: Message, where: str) -> None:
    """The sequence_features of a feature group: a DEEP (or WIDE_AND_DEEP) group, distinct
    names, valid members, and keys as wide as the histories unless allow_key_transform."""
    if group.sequence_features and group.wide_deep == WIDE:
        ctx.fail(f"{where}.sequence_features", f"feature group {group.group_name!r} is WIDE; "
                 "sequence_features (target attention) needs a DEEP group")
    seen: dict[str, int] = {}
    for i, entry in enumerate(group.sequence_features):
        field = f"{where}.sequence_features[{i}]"
        if entry.group_name in seen:
            ctx.fail(f"{field}.group_name", f"sequence_features name {entry.group_name!r} is "
                     f"used twice in feature group {group.group_name!r}")
        seen[entry.group_name] = i
        if entry.seq_model not in SEQ_MODELS:
            ctx.fail(f"{field}.seq_model", f"seq_model must be \"self_attention\" or empty, "
                     f"got {entry.seq_model!r}")
        keys, hists = _check_att_maps(ctx, entry, field, aux_allowed=True)
        key_dim = sum(_key_width(f) for f in keys)
        hist_dim = sum(int(f.embedding_dim) for f in hists)
        problem = key_width_problem(entry, key_dim, hist_dim)
        if problem:
            ctx.fail(field, f"sequence_features {entry.group_name!r} of feature group "
                     f"{group.group_name!r}: {problem}")


def _key_width(feature: FeatureConfig) -> int:
    """Width of a (non-sequence) key feature's deep output, from its config."""
    kind = feature_type_name(feature)
    if kind == "ExprFeature":
        return 1
    if kind == "PassThroughFeature" or (kind == "RawFeature" and not feature.embedding_dim):
        return max(int(feature.raw_input_dim), 1)
    return int(feature.embedding_dim)


def check_seq_att_groups(ctx: CheckContext) -> None:
    """Each sequence group pairs existing key features with SequenceFeature histories of
    one length; group names are unique among all feature and sequence groups."""
    model = ctx.config.model_config
    names = {g.group_name for g in model.feature_groups}
    for i, group in enumerate(model.seq_att_groups):
        where = f"model_config.seq_att_groups[{i}]"
        if not group.group_name or group.group_name in names:
            ctx.fail(f"{where}.group_name", f"sequence group name {group.group_name!r} "
                     "must be non-empty and differ from every other group name")
        names.add(group.group_name)
        for option in ("only_sequence_feature", "seq_model"):
            if getattr(group, option):
                ctx.fail(f"{where}.{option}", f"{option} applies to the sequence_features of a "
                         "feature group (target attention joining the group); the DIN / BST "
                         "towers read model_config.seq_att_groups as they are")
        _check_att_maps(ctx, group, where, aux_allowed=False)


def _check_att_maps(ctx: CheckContext, group: Message, where: str,
                    aux_allowed: bool) -> tuple[list[FeatureConfig], list[FeatureConfig]]:
    """Existing non-sequence keys and SequenceFeature histories of one length; returns
    (keys, histories)."""
    lengths: dict[int, str] = {}
    keys, hists = [], []
    for j, att_map in enumerate(group.seq_att_map):
        for k, key in enumerate(att_map.key):
            keys.append(_require_feature(ctx, key, f"{where}.seq_att_map[{j}].key[{k}]",
                                         sequence=False))
        for kind, members in (("hist_seq", att_map.hist_seq), ("aux_hist_seq", att_map.aux_hist_seq)):
            for k, hist in enumerate(members):
                field = f"{where}.seq_att_map[{j}].{kind}[{k}]"
                if kind == "aux_hist_seq" and not aux_allowed:
                    ctx.fail(field, "aux_hist_seq is not supported in model_config.seq_att_groups "
                             "(the DIN / BST towers attend over hist_seq only); it is used by "
                             "the sequence_features of a feature group")
                history = _require_feature(ctx, hist, field, sequence=True)
                lengths.setdefault(sequence_max_len(history), field)
                if kind == "hist_seq":
                    hists.append(history)
    name = group.group_name
    if not hists:
        ctx.fail(where, f"sequence group {name!r} needs at least one seq_att_map with a "
                 "hist_seq")
    if len(lengths) > 1:
        found = ", ".join(f"{n} ({f})" for n, f in lengths.items())
        ctx.fail(where, f"the histories of sequence group {name!r} must have one "
                 f"max_seq_len; found {found}")
    return keys, hists


def _require_feature(ctx: CheckContext, name: str, field: str, sequence: bool) -> FeatureConfig:
    """The feature `name`, which must exist and be (sequence=True) or not be a
    SequenceFeature."""
    if name not in ctx.features_by_name:
        ctx.fail(field, f"feature {name!r} is not defined; features: "
                 f"{', '.join(ctx.features_by_name)}")
    feature = ctx.features_by_name[name][1]
    if (feature_type_name(feature) == "SequenceFeature") != sequence:
        ctx.fail(field, f"{name!r} must {'' if sequence else 'not '}be a SequenceFeature "
                 f"here ({'hist_seq' if sequence else 'key'})")
    return feature
