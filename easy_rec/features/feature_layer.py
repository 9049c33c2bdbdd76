"""Feature layer: raw input columns -> per-group lists of embeddings / dense values.

Every transform is a TensorFlow op inside the model, so the exported SavedModel applies the
same transforms at serving time.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import tensorflow as tf

from easy_rec.config.features import feature_name
from easy_rec.features.base import Encoded, Feature, build_feature, scope_name
from easy_rec.layers.core import Dense
from easy_rec.layers.embedding import EmbeddingTable, make_initializer
from easy_rec.protos import feature_config_pb2

WIDE = feature_config_pb2.WIDE
DEEP = feature_config_pb2.DEEP
WIDE_AND_DEEP = feature_config_pb2.WIDE_AND_DEEP


@dataclass
class SequenceGroup:
    """One seq_att_groups entry for a batch.

    `query` concatenates the key features' embeddings ([batch, query_dim]; [batch, 0] without
    keys), `sequence` the histories' embeddings ([batch, max_len, seq_dim], oldest first,
    right-padded with zeros), `mask` is True on real elements and `length` counts them.
    """

    query: tf.Tensor
    sequence: tf.Tensor
    mask: tf.Tensor
    length: tf.Tensor


@dataclass
class FeatureLayerOutput:
    """Per group: the list of per-feature tensors [batch, dim]; per sequence group its
    SequenceGroup; and the embedding L2 term."""

    deep: dict[str, list[tf.Tensor]] = field(default_factory=dict)
    wide: dict[str, list[tf.Tensor]] = field(default_factory=dict)
    sequence: dict[str, SequenceGroup] = field(default_factory=dict)
    embedding_l2: tf.Tensor | None = None

    def concat(self, group: str) -> tf.Tensor:
        """Deep group as one [batch, sum of dims] tensor."""
        return tf.concat(self.deep[group], axis=1)

    def wide_sum(self, group: str) -> tf.Tensor:
        """Wide group summed into [batch, wide_output_dim]."""
        return tf.add_n(self.wide[group])


class FeatureLayer(tf.Module):
    """Owns the features, their embedding tables and the feature groups of a model."""

    def __init__(
        self,
        feature_configs: Sequence[feature_config_pb2.FeatureConfig],
        feature_groups: Sequence[feature_config_pb2.FeatureGroupConfig],
        wide_output_dim: int = 1,
        base_dir: str | None = None,
        seq_att_groups: Sequence[feature_config_pb2.SeqAttGroupConfig] = (),
    ):
        super().__init__(name="feature_layer")
        configs = {feature_name(c): c for c in feature_configs}
        self.groups = {g.group_name: (list(g.feature_names), g.wide_deep) for g in feature_groups}
        #: sequence group name -> (key feature names, history feature names)
        self.sequence_groups = {
            g.group_name: ([k for m in g.seq_att_map for k in m.key],
                           [h for m in g.seq_att_map for h in m.hist_seq])
            for g in seq_att_groups}
        used = [n for names, _ in self.groups.values() for n in names]
        used += [n for keys, hists in self.sequence_groups.values() for n in keys + hists]
        self.features: dict[str, Feature] = {}
        for name in dict.fromkeys(used):
            self.features[name] = build_feature(configs[name], base_dir)
        self.wide_output_dim = wide_output_dim
        self.deep_tables: dict[str, EmbeddingTable] = {}
        self.wide_tables: dict[str, EmbeddingTable] = {}
        self.wide_dense: dict[str, Dense] = {}
        with self.name_scope:
            for names, kind in self.groups.values():
                for name in names:
                    if kind in (DEEP, WIDE_AND_DEEP):
                        self._add_deep(self.features[name])
                    if kind in (WIDE, WIDE_AND_DEEP):
                        self._add_wide(self.features[name])
            for keys, hists in self.sequence_groups.values():
                for name in keys + hists:
                    self._add_deep(self.features[name])
        self.identity_features = sorted(
            n for n, f in self.features.items()
            if f.categorical and getattr(getattr(f, "mapper", None), "num_buckets", 0)
            and f.mapper.vocab_table is None and not f.mapper.hash_bucket_size)
        self.out_of_range_ids = tf.Variable(
            tf.zeros([max(len(self.identity_features), 1)], tf.int64), trainable=False,
            name="out_of_range_ids")

    def _add_deep(self, feature: Feature) -> None:
        if not feature.categorical or feature.table_name in self.deep_tables:
            return
        self.deep_tables[feature.table_name] = EmbeddingTable(
            feature.num_ids, feature.embedding_dim,
            make_initializer(feature.embedding_dim, **initializer_kwargs(feature.config)),
            name=scope_name(f"{feature.table_name}_embedding"))

    def _add_wide(self, feature: Feature) -> None:
        if feature.categorical:
            if feature.table_name not in self.wide_tables:
                self.wide_tables[feature.table_name] = EmbeddingTable(
                    feature.num_ids, self.wide_output_dim,
                    make_initializer(self.wide_output_dim, **initializer_kwargs(feature.config)),
                    name=scope_name(f"{feature.table_name}_wide"))
        elif feature.name_ not in self.wide_dense:
            self.wide_dense[feature.name_] = Dense(
                feature.dense_dim, self.wide_output_dim, use_bias=False, name=scope_name(f"{feature.name_}_wide"))

    @property
    def input_names(self) -> list[str]:
        """Raw input columns the features read, in first-use order."""
        return list(dict.fromkeys(n for f in self.features.values() for n in f.input_names))

    def group_dim(self, group: str) -> int:
        """Width of a deep group's concatenated output."""
        names, _ = self.groups[group]
        return sum(self.feature_dim(n) for n in names)

    def feature_dim(self, name: str) -> int:
        """Width of one feature's deep output."""
        feature = self.features[name]
        return feature.embedding_dim if feature.categorical else feature.dense_dim

    def sequence_dims(self, group: str) -> tuple[int, int, int]:
        """(query_dim, seq_dim, max_len) of a sequence group."""
        keys, hists = self.sequence_groups[group]
        return (sum(self.feature_dim(k) for k in keys), sum(self.feature_dim(h) for h in hists),
                self.features[hists[0]].max_len)

    def embedding_tables(self) -> list[EmbeddingTable]:
        """All tables (deep and wide); their variables get sparse updates."""
        return list(self.deep_tables.values()) + list(self.wide_tables.values())

    def group_features(self, groups: Sequence[str]) -> list[str]:
        """Features of the named feature groups and sequence groups, in first-use order."""
        names: list[str] = []
        for group in groups:
            if group in self.groups:
                names += self.groups[group][0]
            else:
                keys, hists = self.sequence_groups[group]
                names += keys + hists
        return list(dict.fromkeys(names))

    def group_input_names(self, groups: Sequence[str]) -> list[str]:
        """Raw input columns the features of `groups` read, in first-use order."""
        return list(dict.fromkeys(
            n for name in self.group_features(groups) for n in self.features[name].input_names))

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False,
                 groups: Sequence[str] | None = None) -> FeatureLayerOutput:
        """`groups` (feature and sequence group names) limits the output to those groups; only
        their features are encoded, so `raw` needs only their columns (group_input_names)."""
        names = list(self.features) if groups is None else self.group_features(groups)
        selected = set(self.groups) | set(self.sequence_groups) if groups is None else set(groups)
        encoded = {name: self.features[name].encode(raw) for name in names}
        if training and self.identity_features:
            no_count = tf.constant(0, tf.int64)
            counts = tf.stack([encoded[n].out_of_range if n in encoded else no_count
                               for n in self.identity_features])
            self.out_of_range_ids.assign_add(counts)
        out = FeatureLayerOutput()
        deep_cache: dict[str, tf.Tensor] = {}
        wide_cache: dict[str, tf.Tensor] = {}
        for group, (names, kind) in self.groups.items():
            if group not in selected:
                continue
            if kind in (DEEP, WIDE_AND_DEEP):
                out.deep[group] = [self._deep_value(n, encoded[n], deep_cache) for n in names]
            if kind in (WIDE, WIDE_AND_DEEP):
                out.wide[group] = [self._wide_value(n, encoded[n], wide_cache) for n in names]
        sequence_cache: dict[str, tuple[tf.Tensor, tf.Tensor]] = {}
        for group in [g for g in self.sequence_groups if g in selected]:
            out.sequence[group] = self._sequence_group(group, encoded, deep_cache, sequence_cache)
        embeddings = [deep_cache[n] for n in deep_cache if self.features[n].categorical]
        embeddings += [wide_cache[n] for n in wide_cache if self.features[n].categorical]
        embeddings += [values for values, _ in sequence_cache.values()]
        out.embedding_l2 = tf.add_n([tf.nn.l2_loss(e) for e in embeddings]) if embeddings \
            else tf.constant(0.0)
        return out

    def _deep_value(self, name: str, value: Encoded, cache: dict[str, tf.Tensor]) -> tf.Tensor:
        if name not in cache:
            feature = self.features[name]
            if feature.categorical:
                cache[name] = _lookup(self.deep_tables[feature.table_name], value, feature.combiner)
            else:
                cache[name] = value.dense
        return cache[name]

    def _sequence_group(self, group: str, encoded: dict[str, Encoded],
                        deep_cache: dict[str, tf.Tensor],
                        sequence_cache: dict[str, tuple[tf.Tensor, tf.Tensor]]) -> SequenceGroup:
        keys, hists = self.sequence_groups[group]
        for name in hists:
            if name not in sequence_cache:
                feature = self.features[name]
                sequence_cache[name] = self.deep_tables[feature.table_name].lookup_sequence(
                    encoded[name].ids, feature.max_len)
        sequence = tf.concat([sequence_cache[h][0] for h in hists], axis=-1)
        mask = sequence_cache[hists[0]][1]
        if keys:
            query = tf.concat([self._deep_value(k, encoded[k], deep_cache) for k in keys], axis=1)
        else:
            query = tf.zeros([tf.shape(sequence)[0], 0])
        length = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        return SequenceGroup(query=query, sequence=sequence, mask=mask, length=length)

    def _wide_value(self, name: str, value: Encoded, cache: dict[str, tf.Tensor]) -> tf.Tensor:
        if name not in cache:
            feature = self.features[name]
            if feature.categorical:
                cache[name] = _lookup(self.wide_tables[feature.table_name], value, "sum")
            else:
                cache[name] = self.wide_dense[name](value.dense)
        return cache[name]


def initializer_kwargs(config: feature_config_pb2.FeatureConfig) -> dict[str, Any]:
    """make_initializer arguments (all but dim) of a feature's `initializer`; none if unset."""
    if not config.HasField("initializer"):
        return {}
    kind = config.initializer.WhichOneof("initializer_oneof")
    params = getattr(config.initializer, kind)
    if kind == "constant_initializer":
        return {"kind": "constant", "consts": list(params.consts)}
    if kind == "glorot_normal_initializer":
        return {"kind": "glorot_normal"}
    return {"kind": kind.removesuffix("_initializer"), "mean": params.mean,
            "stddev": params.stddev}


def _lookup(table: EmbeddingTable, value: Encoded, combiner: str) -> tf.Tensor:
    if isinstance(value.ids, tf.RaggedTensor):
        ids = value.ids.merge_dims(1, 2) if value.ids.ragged_rank == 2 else value.ids
        return table.lookup_multi(ids, value.weights, combiner)
    return table.lookup(value.ids)
