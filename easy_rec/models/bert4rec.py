"""BERT4Rec (Sun et al. 2019): a bidirectional transformer over the item history, trained on
the cloze task (predict randomly masked items with a softmax over the item table).

Each training row is one sequence: its history followed by its own item (the item the user
took next); the label is ignored. The last row of the item embedding table is the [mask]
token. At serving the history followed by [mask] gives the user embedding, and the row's
item is scored against it, as in any matching model.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.config.features import feature_configs, feature_name
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers import match
from easy_rec.layers.cloze import append_after_last, cloze_mask
from easy_rec.layers.core import Dense
from easy_rec.layers.position import PositionEmbedding, recency_positions
from easy_rec.layers.transformer import TransformerEncoder
from easy_rec.models.checks import (
    require,
    require_groups,
    require_sequence_group,
    sequence_group_name,
)
from easy_rec.models.layer_args import transformer_kwargs
from easy_rec.models.match_base import MatchModel
from easy_rec.models.registry import register_model
from easy_rec.protos import bert4rec_pb2, easy_rec_model_pb2, pipeline_pb2

ITEM_GROUP = "item"


@register_model("BERT4Rec", bert4rec_pb2.BERT4Rec)
class BERT4Rec(MatchModel):
    """User tower: the sequence group's history + [mask] -> transformer -> the [mask] slot's
    output, projected (Dense + GELU). Item tower: the item's row of the shared table."""

    item_groups = (ITEM_GROUP,)

    def build(self, feature_layer: FeatureLayer) -> None:
        group = sequence_group_name(self.model_config, self.params)
        self.user_groups = (group,)
        _, hists = feature_layer.sequence_groups[group]
        self._history = feature_layer.features[hists[0]]
        self._item = feature_layer.features[feature_layer.groups[ITEM_GROUP][0][0]]
        if self._item.table_name != self._history.table_name:
            raise ValueError(f"BERT4Rec: item feature {self._item.name_!r} and history "
                             f"{self._history.name_!r} must share one embedding table "
                             "(the same embedding_name)")
        self.table = feature_layer.deep_tables[self._item.table_name]
        self.mask_id = self.table.num_ids - 1
        dim = self.table.dim
        self.max_len = self._history.max_len + 1  # the history and one item or [mask]
        self.positions = PositionEmbedding(self.max_len, dim, name="positions")
        self.encoder = TransformerEncoder(dim, **transformer_kwargs(self.params.encoder),
                                          name="encoder")
        self.projection = Dense(dim, dim, name="projection")

    # -- towers ------------------------------------------------------------------------------
    def encode(self, tokens: tf.Tensor, mask: tf.Tensor, training: bool) -> tf.Tensor:
        """Token embeddings [batch, max_len, dim] (right-padded) -> projected transformer
        outputs [batch, max_len, dim]; positions count back from the last real token."""
        length = tf.reduce_sum(tf.cast(mask, tf.int32), axis=1)
        hidden = self.encoder(tokens + self.positions(recency_positions(length, self.max_len)),
                              mask, training)
        return tf.nn.gelu(self.projection(hidden))

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        seq = features.sequence[self.user_groups[0]]
        mask_token = self.table.lookup(tf.constant(self.mask_id, tf.int64))
        tokens, mask = append_after_last(seq.sequence, seq.length, mask_token)
        hidden = self.encode(tokens, mask, training)
        return tf.gather(hidden, seq.length, batch_dims=1)

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return features.concat(ITEM_GROUP)

    # -- cloze training ----------------------------------------------------------------------
    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        if not training:
            outputs = super().__call__(raw, training)
            outputs["item_ids"] = self._off_mask_row(self._item.encode(raw).ids)
            return outputs
        item = tf.RaggedTensor.from_tensor(self._item.encode(raw).ids[:, None])
        sequence = tf.concat([self._history.encode(raw).ids, item], axis=1)
        ids = self._off_mask_row(sequence.to_tensor(shape=[None, self.max_len]))
        mask = tf.sequence_mask(sequence.row_lengths(), self.max_len)
        masked = cloze_mask(mask, float(self.params.mask_prob))
        inputs = tf.where(masked, tf.constant(self.mask_id, ids.dtype), ids)
        tokens = self.table.lookup(inputs) * tf.cast(mask, tf.float32)[:, :, None]
        hidden = self.encode(tokens, mask, training)
        queries = match.normalize(tf.boolean_mask(hidden, masked), self.cosine)
        per_item = self.softmax_loss(queries, tf.boolean_mask(ids, masked))
        return {"cloze_loss": tf.reduce_mean(per_item), "masked": masked,
                "embedding_l2": tf.nn.l2_loss(tokens)}

    def _off_mask_row(self, ids: tf.Tensor) -> tf.Tensor:
        """Item ids with an id on the [mask] row (a hash collision, or an id of num_buckets - 1)
        moved to the row before it, so that items never read as [mask] and are candidates."""
        return tf.minimum(ids, self.mask_id - 1)

    def softmax_loss(self, queries: tf.Tensor, targets: tf.Tensor) -> tf.Tensor:
        """[n] cross entropy of predicting item ids `targets` from `queries` [n, dim] among all
        items but [mask] (num_sampled 0) or the target and num_sampled uniform negatives."""
        if self.params.num_sampled:
            negative_ids = tf.random.uniform([int(self.params.num_sampled)], 0, self.mask_id,
                                             dtype=targets.dtype)
            scores, valid, column = match.sampled_candidates(
                queries, self._candidates(targets), self._candidates(negative_ids), targets,
                negative_ids)
        else:
            scores = match.all_pair_scores(queries, self._candidates(tf.range(self.mask_id)))
            valid, column = tf.ones_like(scores, tf.bool), tf.cast(targets, tf.int32)
        return match.masked_softmax_cross_entropy(scores / self.temperature, valid, column)

    def _candidates(self, ids: tf.Tensor) -> tf.Tensor:
        """Item embeddings as compared, gathered row by row (sparse gradients)."""
        return match.normalize(self.table.lookup(ids), self.cosine)

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        """`cross_entropy_loss`, in training the mean cloze loss over the masked items, in
        evaluation the mean loss of predicting each row's item at the [mask] after its
        history."""
        if "cloze_loss" in outputs:
            return {"cross_entropy_loss": outputs["cloze_loss"]}
        return {"cross_entropy_loss": tf.reduce_mean(
            self.softmax_loss(outputs["user_emb"], outputs["item_ids"]))}

    # -- config ------------------------------------------------------------------------------
    @classmethod
    def id_fields(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> dict[str, tuple[str, str]]:
        return {"item": ("model_config.bert4rec.item_id", model_config.bert4rec.item_id)}

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.bert4rec
        require_groups(model_config, [ITEM_GROUP], locate)
        name = require_sequence_group(model_config, params, locate)
        super().validate_config(model_config, locate)
        group_index = [g.group_name for g in model_config.feature_groups].index(ITEM_GROUP)
        require(len(model_config.feature_groups[group_index].feature_names) == 1,
                f"model_config.feature_groups[{group_index}].feature_names",
                "BERT4Rec's item group holds exactly one feature: the item id", locate)
        index = [g.group_name for g in model_config.seq_att_groups].index(name)
        maps = model_config.seq_att_groups[index].seq_att_map
        require(len(maps) == 1 and len(maps[0].hist_seq) == 1 and not maps[0].key,
                f"model_config.seq_att_groups[{index}]", "BERT4Rec's sequence group needs one "
                "seq_att_map with one hist_seq (the item history) and no key", locate)
        require(0 < params.mask_prob < 1, "model_config.bert4rec.mask_prob",
                f"mask_prob must be in (0, 1), got {params.mask_prob:g}", locate)

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig, locate: Locate) -> None:
        model = config.model_config
        sampler = config.data_config.WhichOneof("sampler") or "negative_sampler"
        require(not config.data_config.WhichOneof("sampler"), f"data_config.{sampler}",
                "BERT4Rec draws its negatives from the item table (bert4rec.num_sampled); "
                f"remove data_config.{sampler}", locate)
        features = {feature_name(f): f for f in feature_configs(config)}
        item_name = next(g for g in model.feature_groups if g.group_name == ITEM_GROUP
                         ).feature_names[0]
        group = sequence_group_name(model, model.bert4rec)
        hist_name = next(g for g in model.seq_att_groups if g.group_name == group
                         ).seq_att_map[0].hist_seq[0]
        item, hist = features[item_name], features[hist_name]
        require(bool(item.embedding_name) and item.embedding_name == hist.embedding_name,
                "model_config.bert4rec.sequence_group", f"BERT4Rec predicts history items "
                f"with the item table: give {item_name!r} and {hist_name!r} one embedding_name",
                locate)
        require(not hist.seq_multi_sep, "model_config.bert4rec.sequence_group",
                f"BERT4Rec's history {hist_name!r} holds one item per element: unset "
                "seq_multi_sep", locate)
        super().validate_pipeline(config, locate)
