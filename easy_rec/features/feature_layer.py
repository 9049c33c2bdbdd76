"""Feature layer: raw input columns -> per-group lists of embeddings / dense values.

Every transform is a TensorFlow op inside the model, so the exported SavedModel applies the
same transforms at serving time.
"""
from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from typing import Any

import tensorflow as tf

from easy_rec.config.features import feature_name
from easy_rec.features.base import Encoded, Feature, build_feature, feature_type_name, scope_name
from easy_rec.features.group_attention import GroupAttention, attention_members
from easy_rec.features.sequence_combiner import build_sequence_combiner
from easy_rec.features.sequence_feature import SequenceFeature
from easy_rec.features.user_side import Broadcaster, UserSide, broadcast, keep
from easy_rec.layers import shared_rows
from easy_rec.layers.core import Dense
from easy_rec.layers.embedding import EmbeddingTable, make_initializer
from easy_rec.layers.variational_dropout import VariationalDropout
from easy_rec.protos import feature_config_pb2, variational_dropout_pb2

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
    #: in a one user × N items call with user-side histories: (sequence, mask) at batch 1, N
    history_once: tuple[tf.Tensor, tf.Tensor, tf.Tensor] | None = None

    def history_per_user(self, function: Callable[[tf.Tensor, tf.Tensor], Any]) -> Any:
        """`function(sequence, mask)` for a sub-network reading the history only (e.g. an
        interest extractor): once on the batch-1 history and broadcast to the N rows when the
        history is user-side (FeatureLayerOutput.per_user), else on this group's rows."""
        if self.history_once is None:
            return function(self.sequence, self.mask)
        sequence, mask, batch_size = self.history_once
        return broadcast(function(sequence, mask), batch_size)


@dataclass
class SequenceValue:
    """One SequenceFeature of an unpooled feature group for a batch: `values` [batch, max_len,
    dim] (oldest first, right-padded with zeros) and `mask` [batch, max_len], True on real
    elements."""

    values: tf.Tensor
    mask: tf.Tensor

    @property
    def length(self) -> tf.Tensor:
        """[batch] int32 number of real elements."""
        return tf.reduce_sum(tf.cast(self.mask, tf.int32), axis=1)


@dataclass
class FeatureLayerOutput:
    """Per group: the list of per-feature tensors [batch, dim]; per unpooled group the list of
    its features' SequenceValues; per sequence group its SequenceGroup; the embedding L2 term;
    the variational dropout penalty (None without variational dropout); per feature its
    encoded value (the backbone's raw_input / embedding_layer blocks read it)."""

    deep: dict[str, list[tf.Tensor]] = field(default_factory=dict)
    wide: dict[str, list[tf.Tensor]] = field(default_factory=dict)
    sequence: dict[str, SequenceGroup] = field(default_factory=dict)
    unpooled: dict[str, list[SequenceValue]] = field(default_factory=dict)
    embedding_l2: tf.Tensor | None = None
    dropout_penalty: tf.Tensor | None = None
    #: per feature of the selected groups: its value before any embedding (ids or dense)
    encoded: dict[str, Encoded] = field(default_factory=dict)
    #: in a one user × N items call (FeatureLayer.user_side): the output, at batch 1, of the
    #: selected groups whose features are all user-side (its `once_groups`), and N
    user_once: FeatureLayerOutput | None = None
    once_groups: frozenset[str] = frozenset()
    batch_size: tf.Tensor | None = None

    def per_user(self, groups: Sequence[str], function: Callable[[FeatureLayerOutput], Any]) -> Any:
        """`function(output)` for a sub-network reading only `groups` (a user tower): in a one
        user × N items call whose `groups` are all user-side it runs once, on the batch-1
        output, and its result (a nest of tensors) is broadcast to the N rows; otherwise it
        runs on this output."""
        once = self.user_once
        if once is None or not set(groups) <= once.once_groups:
            return function(self)
        return broadcast(function(once), self.batch_size)

    def concat(self, group: str) -> tf.Tensor:
        """Deep group as one [batch, sum of dims] tensor (its user-side columns noted in a
        one user × N items call: easy_rec.layers.shared_rows)."""
        return shared_rows.concat(self.deep[group], axis=1)

    def wide_sum(self, group: str) -> tf.Tensor:
        """Wide group summed into [batch, wide_output_dim] (the user-side features' part once
        in a one user × N items call)."""
        return shared_rows.sum_fields(self.wide[group], tf.add_n)


class FeatureLayer(tf.Module):
    """Owns the features, their embedding tables and the feature groups of a model.

    A DEEP group yields, in order, the value of each of its features (a SequenceFeature with
    a `sequence_combiner` through that combiner), then the output of each of its
    `sequence_features` entries (target attention, easy_rec.features.group_attention).

    A feature group named in `unpooled_groups` must hold SequenceFeatures only; its output is
    each feature's padded sequence of embeddings (FeatureLayerOutput.unpooled, EasyRec's
    `is_combine=False` input layer) instead of one pooled vector per feature.

    A feature group named in `paired_groups` becomes a sequence group of the same name (as if
    it were a seq_att_groups entry): its SequenceFeatures, in order, are the history and its
    other features, in order, the target (EasyRec's input layer with
    output_seq_and_normal_feature, which the backbone's BST / DIN components read).

    `string_columns` names the STRING input fields: a PassThroughFeature over one is text (its
    raw strings, FeatureLayerOutput.encoded), and a feature group holding a text feature has
    no deep or wide output (text_groups; only the backbone's raw_input block reads it).
    """

    def __init__(
        self,
        feature_configs: Sequence[feature_config_pb2.FeatureConfig],
        feature_groups: Sequence[feature_config_pb2.FeatureGroupConfig],
        wide_output_dim: int = 1,
        base_dir: str | None = None,
        seq_att_groups: Sequence[feature_config_pb2.SeqAttGroupConfig] = (),
        unpooled_groups: Sequence[str] = (),
        variational_dropout: variational_dropout_pb2.VariationalDropoutLayer | None = None,
        paired_groups: Sequence[str] = (),
        string_columns: Collection[str] = (),
    ):
        """variational_dropout: model_config.variational_dropout, a learned dropout of the
        features of every pooled feature group (deep and wide parts alike); None: no
        dropout."""
        super().__init__(name="feature_layer")
        configs = {feature_name(c): c for c in feature_configs}
        groups = {g.group_name: (list(g.feature_names), g.wide_deep) for g in feature_groups}
        paired = {g: split_target_and_history(groups.pop(g)[0], configs)
                  for g in paired_groups if g in groups}
        self.groups = groups
        self.unpooled_groups = [g for g in unpooled_groups if g in self.groups]
        #: sequence group name -> (key feature names, history feature names)
        self.sequence_groups = {
            g.group_name: ([k for m in g.seq_att_map for k in m.key],
                           [h for m in g.seq_att_map for h in m.hist_seq])
            for g in seq_att_groups} | paired
        #: sequence groups whose keys and histories go to TensorBoard histograms
        self.summarised_groups = {g.group_name for g in seq_att_groups if g.tf_summary}
        #: feature group name -> its sequence_features entries
        attention_configs = {g.group_name: list(g.sequence_features) for g in feature_groups
                             if g.sequence_features and g.wide_deep != WIDE
                             and g.group_name in self.groups}
        used = [n for names, _ in self.groups.values() for n in names]
        used += [n for keys, hists in self.sequence_groups.values() for n in keys + hists]
        used += [n for entries in attention_configs.values() for entry in entries
                 for members in attention_members(entry) for n in members]
        self.features: dict[str, Feature] = {}
        for name in dict.fromkeys(used):
            self.features[name] = build_feature(configs[name], base_dir)
            self.features[name].read_types(string_columns)
        #: feature groups holding a text feature: read by raw_input blocks only
        self.text_groups = {g for g, (names, _) in self.groups.items()
                            if any(self.features[n].text for n in names)}
        for group in self.unpooled_groups:
            pooled = [n for n in self.groups[group][0]
                      if not isinstance(self.features[n], SequenceFeature)]
            if pooled:
                raise ValueError(f"feature group {group!r} is read as sequences, so its "
                                 f"features must be SequenceFeatures; {', '.join(pooled)} "
                                 "are not")
        self.wide_output_dim = wide_output_dim
        self.deep_tables: dict[str, EmbeddingTable] = {}
        self.wide_tables: dict[str, EmbeddingTable] = {}
        self.wide_dense: dict[str, Dense] = {}
        #: SequenceFeature name -> its sequence_combiner (features in DEEP groups only)
        self.sequence_combiners: dict[str, tf.Module] = {}
        #: feature group name -> target attention of each of its sequence_features entries
        self.group_attention: dict[str, list[GroupAttention]] = {}
        with self.name_scope:
            for group, (names, kind) in self.groups.items():
                if group in self.unpooled_groups or group in self.text_groups:
                    continue  # unpooled groups are embedded below, as sequences
                for name in names:
                    if kind in (DEEP, WIDE_AND_DEEP):
                        self._add_deep(self.features[name])
                        self._add_sequence_combiner(self.features[name])
                    if kind in (WIDE, WIDE_AND_DEEP):
                        self._add_wide(self.features[name])
            sequences = [n for g in self.unpooled_groups for n in self.groups[g][0]]
            sequences += [n for keys, hists in self.sequence_groups.values() for n in keys + hists]
            for name in sequences:
                self._add_deep(self.features[name])
            for group, entries in attention_configs.items():
                self.group_attention[group] = [self._add_attention(group, e) for e in entries]
            #: 'deep' / 'wide' -> group -> its VariationalDropout
            self.dropouts: dict[str, dict[str, VariationalDropout]] = {"deep": {}, "wide": {}}
            if variational_dropout is not None:
                self._add_dropouts(variational_dropout)
        self.identity_features = sorted(
            n for n, f in self.features.items()
            if f.categorical and getattr(getattr(f, "mapper", None), "num_buckets", 0)
            and f.mapper.vocab_table is None and not f.mapper.hash_bucket_size)
        #: set inside `user_side` blocks: the one user × N items call being traced
        self._user_side: UserSide | None = None
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

    def _add_sequence_combiner(self, feature: Feature) -> None:
        config = feature.config
        if (feature_type_name(config) != "SequenceFeature" or not config.HasField(
                "sequence_combiner") or feature.name_ in self.sequence_combiners):
            return
        self.sequence_combiners[feature.name_] = build_sequence_combiner(
            config.sequence_combiner, feature.embedding_dim,
            name=scope_name(f"{feature.name_}_sequence_combiner"))

    def _add_attention(self, group: str,
                       config: feature_config_pb2.SeqAttGroupConfig) -> GroupAttention:
        keys, hists, aux = attention_members(config)
        for name in keys + hists + aux:
            self._add_deep(self.features[name])
        return GroupAttention(
            config, [self.feature_dim(k) for k in keys],
            [self.features[h].embedding_dim for h in hists],
            [self.features[a].embedding_dim for a in aux],
            name=scope_name(f"{group}_{config.group_name}_attention"))

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

    def _add_dropouts(self, config: variational_dropout_pb2.VariationalDropoutLayer) -> None:
        for group, (names, kind) in self.groups.items():
            if group in self.unpooled_groups or group in self.text_groups:
                continue
            parts = []
            if kind in (DEEP, WIDE_AND_DEEP):
                parts.append(("deep", [self.feature_dim(n) for n in names]))
            if kind in (WIDE, WIDE_AND_DEEP):
                parts.append(("wide", [self.wide_output_dim] * len(names)))
            for part, dims in parts:
                self.dropouts[part][group] = VariationalDropout(
                    dims, config.embedding_wise_variational_dropout,
                    config.regularization_lambda, name=scope_name(f"{group}_{part}_dropout"))

    @property
    def input_names(self) -> list[str]:
        """Raw input columns the features read, in first-use order."""
        return list(dict.fromkeys(n for f in self.features.values() for n in f.input_names))

    def group_dim(self, group: str) -> int:
        """Width of a deep group's concatenated output."""
        return sum(self.field_dims(group))

    def field_dims(self, group: str) -> list[int]:
        """Widths of the entries of a deep group's output list: one per feature, then the
        fields of each sequence_features entry (see GroupAttention)."""
        names, _ = self.groups[group]
        return ([self.feature_dim(n) for n in names]
                + [d for a in self.group_attention.get(group, []) for d in a.field_dims])

    def is_field_embedding(self, name: str) -> bool:
        """True when a feature's deep output is one embedding row (or rows pooled by
        `combiner`) of width embedding_dim, the fields FM-style models interact: not a dense
        value and not a SequenceFeature through a sequence_combiner."""
        return self.features[name].categorical and name not in self.sequence_combiners

    def feature_dim(self, name: str) -> int:
        """Width of one feature's deep output."""
        if name in self.sequence_combiners:
            return self.sequence_combiners[name].output_dim
        feature = self.features[name]
        return feature.embedding_dim if feature.categorical else feature.dense_dim

    def unpooled_dims(self, group: str) -> list[tuple[int, int]]:
        """(dim, max_len) of each feature of an unpooled group."""
        return [(self.feature_dim(n), self.features[n].max_len) for n in self.groups[group][0]]

    def sequence_dims(self, group: str) -> tuple[int, int, int]:
        """(query_dim, seq_dim, max_len) of a sequence group."""
        keys, hists = self.sequence_groups[group]
        return (sum(self.feature_dim(k) for k in keys),
                sum(self.features[h].embedding_dim for h in hists),
                self.features[hists[0]].max_len)

    def embedding_tables(self) -> list[EmbeddingTable]:
        """All tables (deep and wide); their variables get sparse updates."""
        return list(self.deep_tables.values()) + list(self.wide_tables.values())

    def table_variables(self, wide_only: bool = False) -> list[tf.Variable]:
        """The variables of every table (only the wide tables' with `wide_only`); a
        partitioned table gives each of its parts."""
        tables = list(self.wide_tables.values()) if wide_only else self.embedding_tables()
        return [v for t in tables for v in t.parts]

    def input_variables(self, wide_only: bool = False) -> list[tf.Variable]:
        """The variables of EasyRec's input layer: table_variables(wide_only) and the wide
        weights of raw features."""
        return self.table_variables(wide_only) + [
            v for dense in self.wide_dense.values() for v in dense.variables]

    def group_features(self, groups: Sequence[str]) -> list[str]:
        """Features of the named feature groups and sequence groups, in first-use order."""
        names: list[str] = []
        for group in groups:
            if group in self.groups:
                names += self.groups[group][0]
                names += [n for a in self.group_attention.get(group, [])
                          for n in a.keys + a.hists + a.aux]
            else:
                keys, hists = self.sequence_groups[group]
                names += keys + hists
        return list(dict.fromkeys(names))

    def group_input_names(self, groups: Sequence[str]) -> list[str]:
        """Raw input columns the features of `groups` read, in first-use order."""
        return list(dict.fromkeys(
            n for name in self.group_features(groups) for n in self.features[name].input_names))

    @contextmanager
    def user_side(self, features: Collection[str], batch_size: tf.Tensor) -> Iterator[None]:
        """Within the block, calls are one user × N items calls (easy_rec.features.user_side):
        `features` (names) are user-side, their columns (user_columns) hold one row and the
        others `batch_size` rows; outputs have `batch_size` rows."""
        self._user_side = UserSide(frozenset(features) & set(self.features), batch_size)
        try:
            with shared_rows.recording():
                yield
        finally:
            self._user_side = None

    def user_columns(self, features: Collection[str]) -> list[str]:
        """Raw columns the features named in `features` read: the batch-1 inputs of a one user
        × N items call."""
        return list(dict.fromkeys(c for n in self.features if n in features
                                  for c in self.features[n].input_names))

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False,
                 groups: Sequence[str] | None = None) -> FeatureLayerOutput:
        """`groups` (feature and sequence group names) limits the output to those groups; only
        their features are encoded, so `raw` needs only their columns (group_input_names)."""
        names = list(self.features) if groups is None else self.group_features(groups)
        selected = set(self.groups) | set(self.sequence_groups) if groups is None else set(groups)
        side = self._user_side
        user = side.features & set(names) if side is not None else frozenset()
        item_raw = raw
        if user:
            columns = set(self.user_columns(side.features))
            item_raw = {k: broadcast(v, side.batch_size) if k in columns else v
                        for k, v in raw.items()}
        encoded = {name: self.features[name].encode(raw if name in user else item_raw)
                   for name in names}
        if training and self.identity_features:
            no_count = tf.constant(0, tf.int64)
            counts = tf.stack([encoded[n].out_of_range if n in encoded else no_count
                               for n in self.identity_features])
            self.out_of_range_ids.assign_add(counts)
        values = _Values(encoded, training)
        if not user:
            out = self._outputs(selected, values, keep)
            out.encoded = encoded
        else:
            once = self._outputs({g for g in selected if set(self.group_features([g])) <= user},
                                 values, keep)
            once.encoded = {n: encoded[n] for n in user}
            once.once_groups = frozenset(once.deep) | set(once.wide) | set(once.sequence) \
                | set(once.unpooled)
            spread = Broadcaster(UserSide(user, side.batch_size))
            out = self._outputs(selected, values, spread)
            out.encoded = {n: replace(v, ids=spread("ids", n, v.ids),
                                      weights=spread("weights", n, v.weights),
                                      dense=spread("dense", n, v.dense),
                                      text=spread("text", n, v.text))
                           for n, v in encoded.items()}
            out.user_once, out.batch_size = once, side.batch_size
        embeddings = [values.deep[n] for n in values.deep if self.features[n].categorical
                      and n not in self.sequence_combiners]
        embeddings += [values.wide[n] for n in values.wide if self.features[n].categorical]
        embeddings += [padded for padded, _ in values.sequences.values()]
        out.embedding_l2 = tf.add_n([tf.nn.l2_loss(e) for e in embeddings]) if embeddings \
            else tf.constant(0.0)
        return out

    def _outputs(self, selected: Collection[str], values: _Values,
                 spread: Callable[[str, str, Any], Any]) -> FeatureLayerOutput:
        """The outputs of the `selected` groups; `spread(kind, feature, value)` turns each
        feature's value into the value the groups read (Broadcaster, or `keep`)."""
        out = FeatureLayerOutput()
        for group, (names, kind) in self.groups.items():
            if group not in selected or group in self.text_groups:
                continue
            if group in self.unpooled_groups:
                out.unpooled[group] = [SequenceValue(*spread("sequence", n, self._sequence(n, values)))
                                       for n in names]
                continue
            if kind in (DEEP, WIDE_AND_DEEP):
                out.deep[group] = [spread("deep", n, self._deep_value(n, values)) for n in names]
                for attention in self.group_attention.get(group, []):
                    out.deep[group] += self._attention(group, attention, values, spread)
            if kind in (WIDE, WIDE_AND_DEEP):
                out.wide[group] = [spread("wide", n, self._wide_value(n, values)) for n in names]
        penalties = []
        for parts, dropouts in ((out.deep, self.dropouts["deep"]),
                                (out.wide, self.dropouts["wide"])):
            for group in [g for g in dropouts if g in parts]:
                parts[group], penalty = dropouts[group](parts[group], values.training)
                penalties.append(penalty)
        if penalties:
            out.dropout_penalty = tf.add_n(penalties)
        for group in [g for g in self.sequence_groups if g in selected]:
            out.sequence[group] = self._sequence_group(group, values, spread)
        return out

    def _deep_value(self, name: str, values: _Values) -> tf.Tensor:
        if name not in values.deep:
            feature, value = self.features[name], values.encoded[name]
            if name in self.sequence_combiners:
                sequence, mask = self._sequence(name, values)
                values.deep[name] = self.sequence_combiners[name](sequence, mask, values.training)
            elif feature.categorical:
                values.deep[name] = _lookup(self.deep_tables[feature.table_name], value,
                                            feature.combiner)
            else:
                values.deep[name] = value.dense
        return values.deep[name]

    def _sequence(self, name: str, values: _Values) -> tuple[tf.Tensor, tf.Tensor]:
        """(embeddings [batch, max_len, dim] right-padded, mask) of a SequenceFeature."""
        if name not in values.sequences:
            feature, value = self.features[name], values.encoded[name]
            values.sequences[name] = self.deep_tables[feature.table_name].lookup_sequence(
                value.ids, feature.max_len, value.weights, feature.combiner)
        return values.sequences[name]

    def _keys_and_histories(self, keys: list[str], hists: list[str], values: _Values,
                            spread: Callable[[str, str, Any], Any],
                            summary: str | None = None) -> SequenceGroup:
        """The query (keys concatenated), the histories concatenated per element, their mask
        and lengths; with `summary`, histograms of them under sequence_feature/<summary>/.
        `spread` as in _outputs."""
        histories = [spread("sequence", h, self._sequence(h, values)) for h in hists]
        sequence = shared_rows.concat([padded for padded, _ in histories], axis=-1)
        mask = histories[0][1]
        if keys:
            query = shared_rows.concat(
                [spread("deep", k, self._deep_value(k, values)) for k in keys], axis=1)
        else:
            query = tf.zeros([tf.shape(sequence)[0], 0])
        length = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        once = None
        if isinstance(spread, Broadcaster) and set(hists) <= spread.side.features:
            once = (tf.concat([self._sequence(h, values)[0] for h in hists], axis=-1),
                    self._sequence(hists[0], values)[1], spread.side.batch_size)
        if summary is not None:
            for name in keys:
                tf.summary.histogram(f"sequence_feature/{summary}/{name}", values.deep[name])
            for name in hists:
                tf.summary.histogram(f"sequence_feature/{summary}/{name}",
                                     values.sequences[name][0])
            tf.summary.histogram(f"sequence_feature/{summary}/length", length)
        return SequenceGroup(query=query, sequence=sequence, mask=mask, length=length,
                             history_once=once)

    def _sequence_group(self, group: str, values: _Values,
                        spread: Callable[[str, str, Any], Any]) -> SequenceGroup:
        keys, hists = self.sequence_groups[group]
        return self._keys_and_histories(keys, hists, values, spread,
                                        group if group in self.summarised_groups else None)

    def _attention(self, group: str, attention: GroupAttention, values: _Values,
                   spread: Callable[[str, str, Any], Any]) -> list[tf.Tensor]:
        """Output fields of one sequence_features entry of feature group `group`."""
        summary = f"{group}/{attention.group_name}" if attention.tf_summary else None
        seq = self._keys_and_histories(attention.keys, attention.hists, values, spread, summary)
        aux = [spread("sequence", a, self._sequence(a, values))[0] for a in attention.aux]
        return attention(seq.query, seq.sequence, seq.mask, aux, values.training)

    def _wide_value(self, name: str, values: _Values) -> tf.Tensor:
        if name not in values.wide:
            feature, value = self.features[name], values.encoded[name]
            if feature.categorical:
                values.wide[name] = _lookup(self.wide_tables[feature.table_name], value, "sum")
            else:
                values.wide[name] = self.wide_dense[name](value.dense)
        return values.wide[name]


def split_target_and_history(
        names: Sequence[str], configs: dict[str, feature_config_pb2.FeatureConfig]
) -> tuple[list[str], list[str]]:
    """(target features, history features) of a feature group read as a sequence group:
    its SequenceFeatures are the history, the others the target, each in group order."""
    hists = [n for n in names if feature_type_name(configs[n]) == "SequenceFeature"]
    if not hists:
        raise ValueError(f"a feature group read as (sequence, target) needs SequenceFeatures; "
                         f"{', '.join(names)} has none")
    return [n for n in names if n not in hists], hists


@dataclass
class _Values:
    """What one call of the feature layer has computed so far, per feature name."""

    encoded: dict[str, Encoded]
    training: bool
    deep: dict[str, tf.Tensor] = field(default_factory=dict)
    wide: dict[str, tf.Tensor] = field(default_factory=dict)
    sequences: dict[str, tuple[tf.Tensor, tf.Tensor]] = field(default_factory=dict)


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
    """One vector per example: a single id's row, or the rows of several ids (all values of
    all elements of a history) combined with `combiner`."""
    if not isinstance(value.ids, tf.RaggedTensor):
        return table.lookup(value.ids)
    ids, weights = value.ids, value.weights
    if ids.ragged_rank == 2:
        ids = ids.merge_dims(1, 2)
        weights = None if weights is None else weights.merge_dims(1, 2)
    return table.lookup_multi(ids, weights, combiner)
