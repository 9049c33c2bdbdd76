"""DAT (Yu et al., "A Dual Augmented Two-tower Model for Online Large-scale Recommendation",
DLP-KDD 2021): two towers, each fed an augmented vector of its own id that learns to mimic the
other tower's embeddings of positive pairs (the adaptive-mimic mechanism), as EasyRec's DAT."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.match import EmbeddingTower
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.losses.registry import weighted_mean
from easy_rec.models.match_base import MatchModel, check_tower_sizes
from easy_rec.models.registry import register_model
from easy_rec.protos import dat_pb2, easy_rec_model_pb2, loss_pb2

AUGMENT = {"user": "user_id_augment", "item": "item_id_augment"}


@register_model("DAT", dat_pb2.DAT)
class DAT(MatchModel):
    """Groups 'user', 'item', 'user_id_augment' and 'item_id_augment' (DEEP). The user tower
    reads concat(user, user_id_augment) = [x_u, a_u], the item tower [x_i, a_i]; each is an
    MLP whose last hidden_units entry is the (linear) embedding size. Trained with softmax
    negatives plus the two mimic losses of the positive rows:

        loss_u = mean((a_u - stop_gradient(p_i))^2),  loss_i = mean((a_i - stop_gradient(p_u))^2)

    where p_u, p_i are the embeddings as compared (normalised for COSINE). The augmented groups'
    widths must equal the embedding size.
    """

    user_groups = ("user", AUGMENT["user"])
    item_groups = ("item", AUGMENT["item"])

    def build(self, feature_layer: FeatureLayer) -> None:
        for name in ("user", "item"):
            config = getattr(self.params, f"{name}_tower")
            width = feature_layer.group_dim(name) + feature_layer.group_dim(AUGMENT[name])
            setattr(self, f"{name}_tower",
                    EmbeddingTower(width, **mlp_kwargs(config.dnn), name=f"{name}_tower"))
            size = config.dnn.hidden_units[-1]
            if feature_layer.group_dim(AUGMENT[name]) != size:
                raise ValueError(
                    f"DAT: group {AUGMENT[name]!r} is {feature_layer.group_dim(AUGMENT[name])} "
                    f"wide, but it mimics the embeddings of the towers, of size {size}; give "
                    f"its features embedding_dim {size}")

    def user_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.user_tower(_tower_input(features, "user"), training)

    def item_embedding(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.item_tower(_tower_input(features, "item"), training)

    def __call__(self, raw: dict[str, tf.Tensor], training: bool = False) -> dict[str, tf.Tensor]:
        outputs = super().__call__(raw, training)
        augmented = self.feature_layer(raw, training=training, groups=tuple(AUGMENT.values()))
        outputs["user_augment"] = augmented.concat(AUGMENT["user"])
        outputs["item_augment"] = augmented.concat(AUGMENT["item"])
        return outputs

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        """Softmax cross entropy and the mimic losses `amm_loss_u`, `amm_loss_i` (EasyRec's
        names), each a mean over positive rows."""
        weights = tf.cast(batch[self.tasks[0].label_field] > 0, tf.float32)
        if self.sample_weight:
            weights *= tf.cast(batch[self.sample_weight], tf.float32)
        mimic = {"amm_loss_u": _mimic(outputs["user_augment"], outputs["item_emb"]),
                 "amm_loss_i": _mimic(outputs["item_augment"], outputs["user_emb"])}
        return {**super().loss_dict(outputs, batch),
                **{name: weighted_mean(m, weights) for name, m in mimic.items()}}

    @classmethod
    def id_fields(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> dict[str, tuple[str, str]]:
        params = model_config.dat
        ids = {name: (f"model_config.dat.{name}_tower.id", getattr(params, f"{name}_tower").id)
               for name in ("user", "item")}
        return {k: v for k, v in ids.items() if v[1]}

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, ["user", "item", *AUGMENT.values()], locate)
        super().validate_config(model_config, locate)
        require(model_config.loss_type == loss_pb2.SOFTMAX_CROSS_ENTROPY, "model_config.loss_type",
                "DAT trains with softmax negatives: set loss_type: SOFTMAX_CROSS_ENTROPY", locate)
        check_tower_sizes(model_config, locate)


def _tower_input(features: FeatureLayerOutput, side: str) -> tf.Tensor:
    """[x, a]: the side's group followed by its augmented vector."""
    return tf.concat([features.concat(side), features.concat(AUGMENT[side])], axis=1)


def _mimic(augment: tf.Tensor, target: tf.Tensor) -> tf.Tensor:
    """[batch] mean squared distance of the augmented vectors to the (frozen) embeddings."""
    return tf.reduce_mean(tf.square(augment - tf.stop_gradient(target)), axis=1)
