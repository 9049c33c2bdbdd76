"""MultiTowerRecall: a user tower and an item tower whose outputs are concatenated and scored by
a final MLP, trained pointwise, optionally with sampled negative items (EasyRec's
MultiTowerRecall)."""
from __future__ import annotations

from collections.abc import Collection, Sequence

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.config.features import feature_configs, feature_name
from easy_rec.features.feature_layer import FeatureLayer
from easy_rec.input.negative_sampler import HARD, NegativeSampler, sampler_settings
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.losses.registry import weighted_mean
from easy_rec.models.match_base import check_negative_sampler, group_columns
from easy_rec.models.registry import register_model
from easy_rec.protos import (
    easy_rec_model_pb2,
    feature_config_pb2,
    loss_pb2,
    multi_tower_recall_pb2,
    pipeline_pb2,
)

TOWERS = ("user", "item")


@register_model("MultiTowerRecall", multi_tower_recall_pb2.MultiTowerRecall)
class MultiTowerRecall(RankModel):
    """Groups 'user' and 'item' (DEEP): logit = Dense(final_dnn([user_dnn(user),
    item_dnn(item)])), sigmoid cross entropy on the label.

    With a sampler of data_config (not a hard-negative one), every training step also draws
    num_sample items; each row's user is paired with every drawn item as a negative (label 0;
    a draw of the row's own item, by item id, is skipped), and the loss is the mean over the
    rows and these pairs. The drawn items pass the item tower with the batch's items, and all
    pairs pass final_dnn together (one batch-norm batch each). Evaluation scores the rows only.

    A 'user' group with `negative_sampler: true` (EasyRec's flag) computes its target
    attention (sequence_features) per pair: the attention keys, item attributes such as the
    brand, come from the pair's item, so a drawn item is scored with the user's history as
    seen from that item. Without the flag every pair reuses the row's own features.
    """

    uses_negative_sampler = True
    #: feature groups whose `negative_sampler: true` this model reads
    candidate_groups = ("user",)
    #: trained by sigmoid cross entropy (loss_type CLASSIFICATION), not model_config.losses
    reads_losses = False

    def __init__(self, model_config: easy_rec_model_pb2.EasyRecModel,
                 feature_configs: Sequence[feature_config_pb2.FeatureConfig],
                 base_dir: str | None = None, label_fields: Sequence[str] = ("label",),
                 sample_weight: str | None = None,
                 negative_sampler: NegativeSampler | None = None,
                 string_columns: Collection[str] = ()):
        super().__init__(model_config, feature_configs, base_dir, label_fields, sample_weight,
                         string_columns)
        self.negative_sampler = negative_sampler

    @classmethod
    def pipeline_arguments(cls, config: pipeline_pb2.EasyRecConfig) -> dict[str, object]:
        return {**super().pipeline_arguments(config),
                "negative_sampler": NegativeSampler.from_data_config(config.data_config)}

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        self.user_dnn = MLP(feature_layer.group_dim("user"), **mlp_kwargs(params.user_tower.dnn),
                            name="user_dnn")
        self.item_dnn = MLP(feature_layer.group_dim("item"), **mlp_kwargs(params.item_tower.dnn),
                            name="item_dnn")
        self.final_dnn = MLP(self.user_dnn.output_dim + self.item_dnn.output_dim,
                             **mlp_kwargs(params.final_dnn), name="final_dnn")
        self.output_layer = Dense(self.final_dnn.output_dim, 1, name="output")

    @property
    def item_id_field(self) -> str | None:
        """The item id column (item_id, else item_tower.id), which masks accidental hits."""
        return self.params.item_id or self.params.item_tower.id or None

    @property
    def per_item_user_columns(self) -> list[str]:
        """Input columns of the user group's attention keys when the group is flagged
        `negative_sampler: true` (they come from each pair's item), else none."""
        flagged = any(g.group_name == "user" and g.negative_sampler
                      for g in self.model_config.feature_groups)
        if not flagged:
            return []
        keys = [k for a in self.feature_layer.group_attention.get("user", []) for k in a.keys]
        return list(dict.fromkeys(c for k in keys for c in self.feature_layer.features[k].input_names))

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        sampled = training and self.negative_sampler is not None
        users = self.feature_layer(raw, training=training, groups=("user",))
        item_raw = {n: raw[n] for n in self.feature_layer.group_input_names(["item"])}
        if sampled:
            negatives = self.negative_sampler.draw(raw, training=True).items
            item_raw = {n: tf.concat([v, negatives[n]], axis=0) for n, v in item_raw.items()}
        items = self.feature_layer(item_raw, training=training, groups=("item",))
        item = self.item_dnn(items.concat("item"), training)
        size = tf.shape(users.concat("user"))[0]
        per_item = self.per_item_user_columns if sampled else []
        if per_item:
            pair_user = self.user_dnn(self._pair_users(raw, negatives, per_item, training), training)
        else:
            user = users.per_user(["user"], lambda f: self.user_dnn(f.concat("user"), training))
        if not sampled:
            outputs = self.outputs_from_logits(self._score(user, item, training))
        else:
            drawn = item[size:]
            count = tf.shape(drawn)[0]
            if not per_item:
                pair_user = tf.concat([user, tf.repeat(user, count, axis=0)], axis=0)
            pair_item = tf.concat([item[:size], tf.tile(drawn, [size, 1])], axis=0)
            scores = self._score(pair_user, pair_item, training)
            outputs = self.outputs_from_logits(scores[:size])
            outputs["negative_logits"] = tf.reshape(scores[size:], [size, count])
            if self.item_id_field:
                outputs["negative_valid"] = tf.not_equal(
                    raw[self.item_id_field][:, None],
                    negatives[self.negative_sampler.item_id_field][None, :])
        outputs["embedding_l2"] = users.embedding_l2 + items.embedding_l2
        return outputs

    def _pair_users(self, raw: dict[str, tf.Tensor], negatives: dict[str, tf.Tensor],
                    per_item: list[str], training: bool) -> tf.Tensor:
        """User group features of every pair, rows first, then row i with drawn item j at
        i * count + j: the key columns `per_item` from the pair's item, the rest from row i."""
        count = tf.shape(negatives[per_item[0]])[0]
        size = tf.shape(raw[per_item[0]])[0]
        columns = {}
        for name in self.feature_layer.group_input_names(["user"]):
            value = raw[name]
            if name in per_item:
                paired = tf.tile(negatives[name], [size] + [1] * (value.shape.rank - 1))
            else:
                paired = tf.repeat(value, count, axis=0)
            columns[name] = tf.concat([value, paired], axis=0)
        return self.feature_layer(columns, training=training, groups=("user",)).concat("user")

    def _score(self, user: tf.Tensor, item: tf.Tensor, training: bool) -> tf.Tensor:
        return self.output_layer(self.final_dnn(tf.concat([user, item], axis=1), training))

    def loss(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """Sigmoid cross entropy of the rows, and with sampled items of the negative pairs."""
        if "negative_logits" not in outputs:
            return super().loss(outputs, batch)
        negative_logits = outputs["negative_logits"]
        labels = tf.cast(batch[self.tasks[0].label_field], tf.float32)
        losses = tf.concat([
            tf.nn.sigmoid_cross_entropy_with_logits(labels=labels, logits=outputs["logits"])[:, None],
            tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.zeros_like(negative_logits),
                                                    logits=negative_logits)], axis=1)
        weights = tf.ones_like(losses)
        if "negative_valid" in outputs:
            valid = tf.cast(outputs["negative_valid"], tf.float32)
            weights = tf.concat([weights[:, :1], valid], axis=1)
        if self.sample_weight:
            weights *= tf.cast(batch[self.sample_weight], tf.float32)[:, None]
        return weighted_mean(tf.reshape(losses, [-1]), tf.reshape(weights, [-1]))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, list(TOWERS), locate)
        params = model_config.multi_tower_recall
        for field in ("user_tower", "item_tower"):
            require(len(getattr(params, field).dnn.hidden_units) > 0,
                    f"model_config.multi_tower_recall.{field}.dnn.hidden_units",
                    f"{field} needs dnn.hidden_units", locate)
        require(len(params.final_dnn.hidden_units) > 0,
                "model_config.multi_tower_recall.final_dnn.hidden_units",
                "final_dnn needs hidden_units", locate)
        require(model_config.loss_type == loss_pb2.CLASSIFICATION and model_config.num_class <= 1,
                "model_config.loss_type", "MultiTowerRecall scores user-item pairs with sigmoid "
                "cross entropy: loss_type CLASSIFICATION, num_class 1", locate)

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig, locate: Locate) -> None:
        settings = sampler_settings(config.data_config)
        if settings is not None:
            kind = settings[0]
            require(kind not in HARD, f"data_config.{kind}", "MultiTowerRecall pairs each user "
                    "with the shared sampled items; it reads no hard negatives (use "
                    "negative_sampler or negative_sampler_v2)", locate)
            params = config.model_config.multi_tower_recall
            check_negative_sampler(config, group_columns(config, ["item"]),
                                   group_columns(config, ["user"]),
                                   params.item_id or params.item_tower.id or None, locate)
            attrs = getattr(config.data_config, kind).attr_fields
            for i, group in enumerate(config.model_config.feature_groups):
                missing = [c for c in attention_key_columns(config, group) if c not in attrs]
                require(not (group.negative_sampler and missing),
                        f"model_config.feature_groups[{i}].negative_sampler",
                        f"negative_sampler takes the attention keys from each drawn item: "
                        f"data_config.{kind}.attr_fields lacks {', '.join(missing)}", locate)


def attention_key_columns(config: pipeline_pb2.EasyRecConfig,
                          group: feature_config_pb2.FeatureGroupConfig) -> list[str]:
    """Input columns of the attention keys of a feature group's sequence_features."""
    features = {feature_name(f): f for f in feature_configs(config)}
    keys = [k for entry in group.sequence_features for m in entry.seq_att_map for k in m.key]
    return list(dict.fromkeys(c for k in keys if k in features for c in features[k].input_names))
