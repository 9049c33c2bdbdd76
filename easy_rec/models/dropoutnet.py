"""DropoutNet (Volkovs et al., "DropoutNet: Addressing Cold Start in Recommender Systems",
NeurIPS 2017), in EasyRec's end-to-end form: two towers over content and preference features
whose preference input is dropped for whole rows during training, so that the towers also
embed cold users and items; trained on interactions with sigmoid, pairwise and / or
negative-mining softmax losses of the cosine similarity.
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP
from easy_rec.layers.match import EmbeddingTower
from easy_rec.models.checks import require
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.losses.metric_learning import softmax_loss_with_negative_mining
from easy_rec.models.losses.names import term_name, unique_names
from easy_rec.models.losses.pairwise import pairwise_loss
from easy_rec.models.losses.registry import weighted_mean
from easy_rec.models.match_base import MatchModel, group_columns
from easy_rec.models.registry import register_model
from easy_rec.protos import dropoutnet_pb2, easy_rec_model_pb2, loss_pb2, pipeline_pb2

SIDES = ("user", "item")
PARTS = ("content", "preference")
#: model_config.losses entries DropoutNet computes
LOSSES = (loss_pb2.CLASSIFICATION, loss_pb2.PAIR_WISE_LOSS,
          loss_pb2.SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING)


def row_dropout(x: tf.Tensor, rate: float, training: bool) -> tf.Tensor:
    """Drops whole rows of x [batch, dim] with probability `rate` in training, scaling kept
    rows by 1 / (1 - rate); identity otherwise."""
    if not training or rate <= 0:
        return x
    keep = tf.cast(tf.random.uniform([tf.shape(x)[0], 1]) >= rate, x.dtype)
    return x * keep / (1.0 - rate)


@register_model("DropoutNet", dropoutnet_pb2.DropoutNet)
class DropoutNet(MatchModel):
    """Groups 'user_content' / 'user_preference' (at least one) and 'item_content' /
    'item_preference' (at least one), DEEP. A tower: MLP(content) and MLP(row_dropout(
    preference)) concatenated, then the tower MLP whose last hidden_units entry is the (linear)
    embedding size. Embeddings are L2-normalised; logits = their cosine, probs =
    sigmoid(cosine).

    Losses: the entries of model_config.losses (each times its weight), else loss_type:
    CLASSIFICATION (sigmoid cross entropy of the cosine), PAIR_WISE_LOSS (pairwise_loss of the
    cosine; its pairwise_loss margin / session_name) and
    SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING (its softmax_loss parameters; without them,
    num_negative_mining negatives and the defaults).
    """

    own_losses = LOSSES[1:]
    reads_losses = True
    uses_negative_sampler = False

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        for side in SIDES:
            groups = tuple(f"{side}_{p}" for p in PARTS if f"{side}_{p}" in feature_layer.groups)
            setattr(self, f"{side}_groups", groups)
            width = 0
            for part in PARTS:
                group = f"{side}_{part}"
                mlp = (MLP(feature_layer.group_dim(group), **mlp_kwargs(getattr(params, group)),
                           name=group) if group in groups else None)
                setattr(self, f"{group}_dnn", mlp)
                width += mlp.output_dim if mlp is not None else 0
            setattr(self, f"{side}_tower", EmbeddingTower(
                width, **mlp_kwargs(getattr(params, f"{side}_tower")), name=f"{side}_tower"))

    def similarity_settings(self) -> tuple[bool, float]:
        return True, 1.0

    def _embed(self, features: FeatureLayerOutput, side: str, training: bool) -> tf.Tensor:
        parts = []
        for part in PARTS:
            mlp = getattr(self, f"{side}_{part}_dnn")
            if mlp is not None:
                x = features.concat(f"{side}_{part}")
                if part == "preference":
                    x = row_dropout(x, getattr(self.params, f"{side}_dropout_rate"), training)
                parts.append(mlp(x, training))
        return getattr(self, f"{side}_tower")(tf.concat(parts, axis=1), training)

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self._embed(features, "user", training)

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self._embed(features, "item", training)

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        """Each entry of model_config.losses (else loss_type), weighted, by name."""
        labels = batch[self.tasks[0].label_field]
        weights = tf.cast(batch[self.sample_weight], tf.float32) if self.sample_weight else None
        entries = list(self.model_config.losses) or [loss_pb2.Loss(loss_type=self.loss_type)]
        terms = []
        for entry in entries:
            if entry.loss_type == loss_pb2.CLASSIFICATION:
                value = weighted_mean(tf.nn.sigmoid_cross_entropy_with_logits(
                    labels=tf.cast(labels, tf.float32), logits=outputs["logits"]), weights)
            elif entry.loss_type == loss_pb2.PAIR_WISE_LOSS:
                session = entry.pairwise_loss.session_name
                value = pairwise_loss(labels, outputs["logits"],
                                      batch[session] if session else None,
                                      entry.pairwise_loss.margin,
                                      entry.pairwise_loss.temperature or 1.0, weights)
            else:
                config = entry.softmax_loss
                value = softmax_loss_with_negative_mining(
                    outputs["user_emb"], outputs["item_emb"], labels,
                    int(config.num_negative_samples or self.params.num_negative_mining),
                    config.margin, config.gamma, config.coefficient_of_support_vector, weights,
                    normalized=True)
            terms.append(entry.weight * value)
        return dict(zip(unique_names([term_name(entry) for entry in entries]), terms))

    @property
    def loss_input_names(self) -> list[str]:
        """The session columns of its PAIR_WISE_LOSS entries (its task lists no losses)."""
        names = [entry.pairwise_loss.session_name for entry in self.model_config.losses]
        return list(dict.fromkeys(n for n in names if n))

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        groups = {g.group_name for g in model_config.feature_groups}
        params = model_config.dropoutnet
        for side in SIDES:
            names = [f"{side}_{p}" for p in PARTS]
            require(bool(groups & set(names)), "model_config.feature_groups",
                    f"DropoutNet needs feature group {names[0]!r} or {names[1]!r} (or both)",
                    locate)
            require(len(getattr(params, f"{side}_tower").hidden_units) > 0,
                    f"model_config.dropoutnet.{side}_tower.hidden_units",
                    f"{side}_tower needs hidden_units (the last is the embedding size)", locate)
            for name in names:
                require(name not in groups or len(getattr(params, name).hidden_units) > 0,
                        f"model_config.dropoutnet.{name}.hidden_units",
                        f"group {name!r} needs dropoutnet.{name}.hidden_units", locate)
            rate = getattr(params, f"{side}_dropout_rate")
            require(0 <= rate < 1, f"model_config.dropoutnet.{side}_dropout_rate",
                    f"{side}_dropout_rate must be in [0, 1), got {rate:g}", locate)
        require(params.user_tower.hidden_units[-1:] == params.item_tower.hidden_units[-1:],
                "model_config.dropoutnet.item_tower.hidden_units", "the towers' last "
                "hidden_units are the embedding sizes and must be equal", locate)
        entries = list(model_config.losses) or [loss_pb2.Loss(loss_type=model_config.loss_type)]
        for i, entry in enumerate(entries):
            path = f"model_config.losses[{i}]" if model_config.losses else "model_config.loss_type"
            require(entry.loss_type in LOSSES, path, "DropoutNet's losses are CLASSIFICATION, "
                    "PAIR_WISE_LOSS and SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING", locate)
            if entry.loss_type == loss_pb2.SOFTMAX_CROSS_ENTROPY_WITH_NEGATIVE_MINING:
                count = entry.softmax_loss.num_negative_samples or params.num_negative_mining
                require(count >= 1, f"{path}.softmax_loss.num_negative_samples",
                        "the negative-mining softmax needs at least one negative", locate)
        require(model_config.num_class <= 1, "model_config.num_class",
                "DropoutNet scores user-item pairs: num_class must be 1", locate)

    @classmethod
    def validate_pipeline(cls, config: pipeline_pb2.EasyRecConfig, locate: Locate) -> None:
        sampler = config.data_config.WhichOneof("sampler")
        require(sampler is None, f"data_config.{sampler}", "DropoutNet mines its negatives in the batch "
                "(num_negative_mining); it draws none from a negative sampler", locate)
        groups = [g.group_name for g in config.model_config.feature_groups]
        read = set(group_columns(config, groups)) | set(config.data_config.label_fields)
        for i, entry in enumerate(config.model_config.losses):
            session = entry.pairwise_loss.session_name
            require(not session or session in read,
                    f"model_config.losses[{i}].pairwise_loss.session_name",
                    f"session_name {session!r} must be a label field or an input of the "
                    "model's features", locate)
