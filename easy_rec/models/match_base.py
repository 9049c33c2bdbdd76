"""Base class of matching (retrieval) models: a user tower and an item tower compared by a
similarity, trained pointwise or with in-batch / sampled softmax negatives.

Subclasses build their towers in `build(feature_layer)` and implement
`user_embedding(features, training)` ([batch, dim], or [batch, interests, dim] for multi-interest
models, where an item scores its best interest) and `item_embedding(features, training)`
([batch, dim]); `features` holds the groups in `user_groups` / `item_groups`. The model block
provides simi_func, temperature and l2_regularization.
"""
from __future__ import annotations

from collections.abc import Collection, Sequence
from typing import ClassVar

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.config.features import feature_configs, feature_name
from easy_rec.features.categorical import as_strings
from easy_rec.features.feature_layer import FeatureLayerOutput
from easy_rec.input.negative_sampler import (
    USER_SAMPLERS,
    Negatives,
    NegativeSampler,
    sampler_settings,
)
from easy_rec.layers import match
from easy_rec.metrics.retrieval import RETRIEVAL_METRICS
from easy_rec.models.base import RankModel, SignatureFunction
from easy_rec.models.checks import require
from easy_rec.models.losses.registry import weighted_mean
from easy_rec.protos import (
    dataset_pb2,
    easy_rec_model_pb2,
    feature_config_pb2,
    loss_pb2,
    match_pb2,
    pipeline_pb2,
)

MATCH_LOSSES = (loss_pb2.CLASSIFICATION, loss_pb2.SOFTMAX_CROSS_ENTROPY, loss_pb2.L2_LOSS)
EMBEDDING_OUTPUTS = ("user_emb", "item_emb")


class MatchModel(RankModel):
    """Two-tower retrieval model; outputs logits = similarity / temperature, probs =
    sigmoid(logits), user_emb and item_emb (L2-normalised for COSINE, so that their inner
    product / temperature is the logit). With L2_LOSS the pair's score is the output y
    instead of logits / probs.

    Losses (model_config.loss_type): CLASSIFICATION is sigmoid cross entropy of each row's pair
    on its label; L2_LOSS (EasyRec's regression DSSM) the squared error of y on the label;
    SOFTMAX_CROSS_ENTROPY ranks each positive row's item against the other items
    of the batch (in-batch negatives) or, with data_config.negative_sampler, against
    num_sample items drawn for the step. Copies of a row's own item among the candidates are
    masked; rows with label 0 contribute no loss term.
    """

    user_groups: tuple[str, ...] = ("user",)
    item_groups: tuple[str, ...] = ("item",)
    uses_negative_sampler = True
    #: trained by model_config.loss_type (DropoutNet reads `losses`)
    reads_losses = False
    #: temperature divides COSINE similarities only, INNER_PRODUCT ones stay as they are
    #: (EasyRec's DSSM and DSSM_SENet)
    temperature_for_cosine_only: ClassVar[bool] = False

    def __init__(self, model_config: easy_rec_model_pb2.EasyRecModel,
                 feature_configs: Sequence[feature_config_pb2.FeatureConfig],
                 base_dir: str | None = None, label_fields: Sequence[str] = ("label",),
                 sample_weight: str | None = None,
                 negative_sampler: NegativeSampler | None = None,
                 string_columns: Collection[str] = ()):
        """negative_sampler: draws the negatives of sampled softmax (None: in-batch);
        string_columns: data_config's STRING input fields (see RankModel)."""
        super().__init__(model_config, feature_configs, base_dir, label_fields, sample_weight,
                         string_columns)
        self.cosine, self.temperature = self.similarity_settings()
        self.negative_sampler = negative_sampler
        with self.name_scope:
            self.similarity_scale = (match.SimilarityScale(name="similarity_scale")
                                     if self.scales_similarity() else None)

    @classmethod
    def pipeline_arguments(cls, config: pipeline_pb2.EasyRecConfig) -> dict[str, object]:
        return {**super().pipeline_arguments(config),
                "negative_sampler": NegativeSampler.from_data_config(config.data_config)}

    # -- what subclasses provide -------------------------------------------------------------
    def similarity_settings(self) -> tuple[bool, float]:
        """(cosine similarity?, temperature): the block's simi_func and temperature (1 for
        INNER_PRODUCT with temperature_for_cosine_only)."""
        cosine = self.params.simi_func == match_pb2.COSINE
        applies = cosine or not self.temperature_for_cosine_only
        return cosine, float(self.params.temperature) if applies else 1.0

    def scales_similarity(self) -> bool:
        """Whether logits pass a learned SimilarityScale (EasyRec's scale_simi); off by default."""
        return False

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        """[batch, dim] or [batch, interests, dim] user embeddings from the user groups."""
        raise NotImplementedError

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        """[batch, dim] item embeddings from the item groups."""
        raise NotImplementedError

    @classmethod
    def id_fields(cls, model_config: easy_rec_model_pb2.EasyRecModel  # noqa: ARG003
                  ) -> dict[str, tuple[str, str]]:
        """Id columns the model block names: {'user' / 'item': (config path, input column)}.

        The item id masks accidental hits and identifies corpus items in retrieval metrics; the
        user id groups rows into users for hit_rate. None by default.
        """
        return {}

    @property
    def user_id_field(self) -> str | None:
        """Input column identifying the user, if the model block names one."""
        return self.id_fields(self.model_config).get("user", ("", None))[1]

    @property
    def item_id_field(self) -> str | None:
        """Input column identifying the item, if the model block names one."""
        return self.id_fields(self.model_config).get("item", ("", None))[1]

    # -- towers ------------------------------------------------------------------------------
    @property
    def user_input_names(self) -> list[str]:
        """Raw columns the user tower reads."""
        return self.feature_layer.group_input_names(self.user_groups)

    @property
    def item_input_names(self) -> list[str]:
        """Raw columns the item tower reads."""
        return self.feature_layer.group_input_names(self.item_groups)

    def embed_users(self, raw: dict[str, tf.Tensor], training: bool = False
                    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(user embeddings as compared, embedding L2 of the lookups) from user columns."""
        features = self.feature_layer(raw, training=training, groups=self.user_groups)
        embedding = features.per_user(self.user_groups, lambda f: match.normalize(
            self.user_embedding(f, training), self.cosine))
        return embedding, features.embedding_l2

    def embed_items(self, raw: dict[str, tf.Tensor], training: bool = False
                    ) -> tuple[tf.Tensor, tf.Tensor]:
        """(item embeddings as compared, embedding L2 of the lookups) from item columns."""
        features = self.feature_layer(raw, training=training, groups=self.item_groups)
        embedding = match.normalize(self.item_embedding(features, training), self.cosine)
        return embedding, features.embedding_l2

    # -- forward and loss --------------------------------------------------------------------
    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        user, user_l2 = self.embed_users(raw, training)
        item_raw = {name: raw[name] for name in self.item_input_names}
        outputs = {}
        if training and self.negative_sampler is not None:
            # negatives pass the item tower with the batch's items (one batch-norm batch)
            drawn = self.negative_sampler.draw(raw, training=True)
            item, item_l2 = self.embed_items(_stacked(item_raw, drawn), training)
            outputs.update(self._split_negatives(item, drawn, tf.shape(user)[0]))
            item = outputs.pop("item_emb")
        else:
            item, item_l2 = self.embed_items(item_raw, training)
        outputs.update(self.pair_outputs(match.pair_scores(user, item)), user_emb=user,
                       item_emb=item, embedding_l2=user_l2 + item_l2)
        return outputs

    def pair_outputs(self, scores: tf.Tensor) -> dict[str, tf.Tensor]:
        """Outputs of each row's pair score [batch]: y (L2_LOSS), else logits and probs."""
        logits = self.to_logits(scores)
        if self.loss_type == loss_pb2.L2_LOSS:
            return {"y": logits}
        return {"logits": logits, "probs": tf.sigmoid(logits)}

    def to_logits(self, scores: tf.Tensor) -> tf.Tensor:
        """Similarities -> logits: / temperature, then the SimilarityScale if any."""
        logits = scores / self.temperature
        return self.similarity_scale(logits) if self.similarity_scale is not None else logits

    def loss(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]) -> tf.Tensor:
        """Pointwise (CLASSIFICATION) or softmax over the candidates of each positive row."""
        if self.loss_type != loss_pb2.SOFTMAX_CROSS_ENTROPY:
            return super().loss(outputs, batch)
        scores, valid, target = self.candidates(outputs, batch)
        per_row = match.masked_softmax_cross_entropy(self.to_logits(scores), valid, target)
        weights = tf.cast(batch[self.tasks[0].label_field] > 0, tf.float32)
        if self.sample_weight:
            weights *= tf.cast(batch[self.sample_weight], tf.float32)
        return weighted_mean(per_row, weights)

    def candidates(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                   ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """(scores of each row's candidate items, valid mask, target column) for the softmax.

        With a sampler: the row's own item, the other items of the batch unless
        `ignore_in_batch_negatives`, the sampled negatives, and the row's hard negatives."""
        ids = batch[self.item_id_field] if self.item_id_field else None
        user, item = outputs["user_emb"], outputs["item_emb"]
        sampler = self.negative_sampler
        history = self.history_ids(batch)
        if sampler is None:
            scores, valid, target = match.in_batch_candidates(user, item, ids)
            if history is not None and ids is not None:
                valid = match.mask_history_hits(valid, target, history, as_strings(ids))
            return scores, valid, target
        if "neg_item_emb" not in outputs:  # evaluation: num_eval_sample through the eval tower
            drawn = sampler.draw(batch, training=False)
            negatives, _ = self.embed_items(_stacked({}, drawn, self.item_input_names))
            outputs = {**outputs, **self._split_negatives(negatives, drawn, 0)}
        combine = (match.sampled_candidates if self.ignore_in_batch_negatives
                   else match.batch_and_sampled_candidates)
        scores, valid, target = combine(user, item, outputs["neg_item_emb"], ids,
                                        outputs["neg_item_id"])
        if history is not None and ids is not None:
            own = tf.constant([""]) if self.ignore_in_batch_negatives else as_strings(ids)
            columns = tf.concat([own, as_strings(outputs["neg_item_id"])], axis=0)
            valid = match.mask_history_hits(valid, target, history, columns)
        if "hard_neg_item_emb" in outputs:
            scores, valid = match.append_hard_negatives(
                scores, valid, user, outputs["hard_neg_item_emb"], outputs["hard_neg_indices"],
                sampler.hard_width, ids, outputs["hard_neg_item_id"])
        return scores, valid, target

    def history_ids(self, batch: dict[str, tf.Tensor]  # noqa: ARG002
                    ) -> tf.RaggedTensor | None:
        """[batch, None] string ids of items each row's user already interacted with, which are
        then no softmax negatives (DSSM's hist_seq_masks); None by default."""
        return None

    @property
    def ignore_in_batch_negatives(self) -> bool:
        """With a sampler, rank each row's item against the sampled negatives only, not also
        against the other items of the batch: the block's ignore_in_batch_neg_sam (DSSM,
        DSSM_SENet, DAT), false where it has none."""
        return bool(getattr(self.params, "ignore_in_batch_neg_sam", False))

    def _split_negatives(self, items: tf.Tensor, drawn: Negatives, size: tf.Tensor
                         ) -> dict[str, tf.Tensor]:
        """The batch's item embeddings (first `size` rows of `items`), the sampled negatives'
        and the hard negatives', with their ids, as model outputs."""
        id_field = self.negative_sampler.item_id_field
        count = tf.shape(drawn.items[id_field])[0]
        outputs = {"item_emb": items[:size], "neg_item_emb": items[size:size + count],
                   "neg_item_id": drawn.items[id_field]}
        if drawn.hard_items is not None:
            outputs.update(hard_neg_item_emb=items[size + count:],
                           hard_neg_item_id=drawn.hard_items[id_field],
                           hard_neg_indices=drawn.hard_indices)
        return outputs

    # -- serving -----------------------------------------------------------------------------
    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        served = super().serving_outputs(outputs)
        served.update({k: outputs[k] for k in EMBEDDING_OUTPUTS})
        return served

    def extra_signatures(self) -> dict[str, tuple[list[str], SignatureFunction]]:
        """`user_embedding` (user columns -> user_emb [, user_id]) and `item_embedding` (item
        columns -> item_emb [, item_id]); the id output echoes the model's id column."""
        return {"user_embedding": (self.user_input_names, self._user_signature),
                "item_embedding": (self.item_input_names, self._item_signature)}

    def _user_signature(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = {"user_emb": self.embed_users(raw)[0]}
        if self.user_id_field:
            outputs["user_id"] = tf.identity(raw[self.user_id_field])
        return outputs

    def _item_signature(self, raw: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        outputs = {"item_emb": self.embed_items(raw)[0]}
        if self.item_id_field:
            outputs["item_id"] = tf.identity(raw[self.item_id_field])
        return outputs

    # -- config checks -----------------------------------------------------------------------
    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        block = f"model_config.{model_config.WhichOneof('model')}"
        params = getattr(model_config, model_config.WhichOneof("model"))
        require(model_config.loss_type in MATCH_LOSSES, "model_config.loss_type",
                f"{model_config.model_class} supports loss_type CLASSIFICATION (pointwise), "
                "L2_LOSS (pointwise regression) or SOFTMAX_CROSS_ENTROPY (in-batch or sampled "
                "negatives)", locate)
        require(model_config.num_class <= 1, "model_config.num_class",
                f"{model_config.model_class} scores user-item pairs: num_class must be 1", locate)
        if "temperature" in params.DESCRIPTOR.fields_by_name:
            require(params.temperature > 0, f"{block}.temperature",
                    f"temperature must be > 0, got {params.temperature:g}", locate)

    @classmethod
    def tower_groups(cls, model_config: easy_rec_model_pb2.EasyRecModel  # noqa: ARG003
                     ) -> dict[str, tuple[str, ...]]:
        """{'user': groups, 'item': groups} the towers read (user_groups / item_groups)."""
        return {"user": cls.user_groups, "item": cls.item_groups}

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig, locate: Locate) -> None:
        model = config.model_config
        towers = cls.tower_groups(model)
        ids = cls.id_fields(model)
        for tower, (path, column) in ids.items():
            require(column in group_columns(config, towers[tower]), path,
                    f"the {tower} tower's id {column!r} must be an input column of a feature of "
                    f"group(s) {', '.join(towers[tower])}", locate)
        metric_paths = retrieval_metric_paths(config)
        if metric_paths:
            require("item" in ids, metric_paths[0], f"retrieval metrics need the item id "
                    f"column, which {model.model_class} does not name", locate)
        block = model.WhichOneof("model")
        settings = sampler_settings(config.data_config)
        if getattr(getattr(model, block), "ignore_in_batch_neg_sam", False):
            require(settings is not None, f"model_config.{block}.ignore_in_batch_neg_sam",
                    "ignore_in_batch_neg_sam keeps only sampled negatives: it needs "
                    "data_config.negative_sampler (or another sampler of data_config)", locate)
        if settings is not None:
            require(model.loss_type == loss_pb2.SOFTMAX_CROSS_ENTROPY,
                    f"data_config.{settings[0]}", "the negative sampler feeds sampled softmax: "
                    "set model_config.loss_type: SOFTMAX_CROSS_ENTROPY", locate)
            check_negative_sampler(config, group_columns(config, towers["item"]),
                                   group_columns(config, towers["user"]),
                                   ids.get("item", ("", None))[1], locate)


def check_tower_sizes(model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
    """ConfigError unless the model block's user_tower and item_tower have hidden_units whose
    last entries (the embedding sizes) are equal."""
    block = model_config.WhichOneof("model")
    params = getattr(model_config, block)
    sizes = {}
    for name in ("user", "item"):
        units = getattr(params, f"{name}_tower").dnn.hidden_units
        require(len(units) > 0, f"model_config.{block}.{name}_tower.dnn.hidden_units",
                f"the {name} tower needs hidden_units (the last is the embedding size)", locate)
        sizes[name] = units[-1]
    require(sizes["user"] == sizes["item"], f"model_config.{block}.item_tower.dnn.hidden_units",
            f"the towers' last hidden_units are the embedding sizes and must be equal; got "
            f"user {sizes['user']}, item {sizes['item']}", locate)


def _stacked(batch_items: dict[str, tf.Tensor], drawn: Negatives,
             names: Sequence[str] | None = None) -> dict[str, tf.Tensor]:
    """Item tower columns: the batch's items (if any), then the sampled negatives, then the hard
    negatives (one pass through the tower)."""
    def parts(name: str) -> list[tf.Tensor]:
        hard = [drawn.hard_items[name]] if drawn.hard_items is not None else []
        own = [batch_items[name]] if name in batch_items else []
        return own + [drawn.items[name]] + hard

    return {name: tf.concat(parts(name), axis=0) for name in (names or list(batch_items))}


def group_columns(config: pipeline_pb2.EasyRecConfig, groups: Sequence[str]) -> list[str]:
    """Input columns read by the features of the named feature groups of a pipeline config."""
    features = {feature_name(f): f for f in feature_configs(config)}
    names = [n for g in config.model_config.feature_groups if g.group_name in groups
             for n in g.feature_names]
    return list(dict.fromkeys(c for n in names if n in features for c in features[n].input_names))


def retrieval_metric_paths(config: pipeline_pb2.EasyRecConfig) -> list[str]:
    """Config paths of the retrieval metrics in eval_config.metrics_set."""
    return [f"eval_config.metrics_set[{i}]" for i, m in enumerate(config.eval_config.metrics_set)
            if m.WhichOneof("metric") in RETRIEVAL_METRICS]


def check_negative_sampler(config: pipeline_pb2.EasyRecConfig, item_columns: list[str],
                           user_columns: list[str], item_id: str | None, locate: Locate) -> None:
    """ConfigError unless num_sample > 0, attr_fields are input fields holding every item tower
    column, item_id_field is among them (and is the model's item id, if it names one), and the
    samplers that read user ids name an integer user tower column."""
    data = config.data_config
    kind, sampler = sampler_settings(data)
    where = f"data_config.{kind}"
    require(sampler.num_sample > 0, f"{where}.num_sample", "num_sample must be > 0", locate)
    inputs = {f.input_name: f for f in data.input_fields}
    require(len(sampler.attr_fields) > 0, f"{where}.attr_fields",
            "attr_fields must list the input fields stored in the item table", locate)
    for i, name in enumerate(sampler.attr_fields):
        require(name in inputs, f"{where}.attr_fields[{i}]",
                f"attr field {name!r} is not in data_config.input_fields", locate)
    require(sampler.item_id_field in sampler.attr_fields, f"{where}.item_id_field",
            f"item_id_field {sampler.item_id_field!r} must be one of attr_fields", locate)
    require(bool(sampler.attr_delimiter), f"{where}.attr_delimiter",
            "attr_delimiter must not be empty", locate)
    missing = [c for c in item_columns if c not in sampler.attr_fields]
    require(not missing, f"{where}.attr_fields", f"attr_fields lack item tower input(s) "
            f"{', '.join(missing)}: negatives pass the item tower", locate)
    require(item_id is None or sampler.item_id_field == item_id, f"{where}.item_id_field",
            f"item_id_field {sampler.item_id_field!r} differs from the model's item id "
            f"{item_id!r}", locate)
    if kind in USER_SAMPLERS:
        user = sampler.user_id_field
        kinds = (dataset_pb2.DatasetConfig.INT32, dataset_pb2.DatasetConfig.INT64,
                 dataset_pb2.DatasetConfig.STRING)
        require(user in user_columns and inputs[user].input_type in kinds,
                f"{where}.user_id_field", f"user_id_field {user!r} must be an INT32 / INT64 "
                "input of the user tower, or a STRING one holding decimal integers (the edge "
                "tables hold integer user ids)", locate)
        if kind in ("hard_negative_sampler", "hard_negative_sampler_v2"):
            require(sampler.num_hard_sample > 0, f"{where}.num_hard_sample",
                    "num_hard_sample must be > 0", locate)
