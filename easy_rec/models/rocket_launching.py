"""RocketLaunching: a light network trained alongside a booster network that teaches it
(Zhou et al., "Rocket Launching: A Universal and Efficient Framework for Training
Well-performing Light Net", AAAI 2018, https://arxiv.org/abs/1708.04106).

Group 'all' -> share_dnn -> booster_dnn -> booster logits, and share_dnn -> (no gradient)
light_dnn -> light logits. Both are trained with cross entropy on the label; the hint loss
mean((z_light - stop_gradient(z_booster))^2) pulls the light net's logits towards the
booster's, and, with feature_based_distillation, each light hidden layer is pulled towards the
first booster hidden layer of the same width: loss -0.1 * mean cosine(h_light,
stop_gradient(h_booster)) with feature_distillation_function COSINE, or (EUCLID) 0.1 *
||h_light - stop_gradient(h_booster)||, the Euclidean norm over the whole batch. The light net
does not train the shared layers.

Outputs: probs_light / logits_light (the net to serve) and probs_booster / logits_booster;
eval_config's metrics are computed for both (auc_light, auc_booster, ...).

EasyRec compares feature_based_distillation (a bool) with COSINE, so its cosine branch never
runs and it adds -0.1 times the Euclidean distance (pushing the layers apart); here the
configured feature_distillation_function is what is used, and the EUCLID term pulls the layers
together (+0.1, as TorchEasyRec).
"""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel, Task
from easy_rec.models.checks import require, require_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.losses.registry import weighted_mean
from easy_rec.models.registry import register_model
from easy_rec.protos import dnn_pb2, easy_rec_model_pb2, loss_pb2, match_pb2, rocket_launching_pb2

#: outputs key of the feature-based distillation loss
FEATURE_LOSS_KEY = "feature_distillation_loss"
FEATURE_LOSS_WEIGHT = 0.1


def layer_stack(input_dim: int, config: dnn_pb2.DNN, name: str) -> list[MLP]:
    """The layers of a DNN block as one single-layer MLP each, so that every hidden output is
    at hand."""
    kwargs = mlp_kwargs(config)
    units, rates = kwargs.pop("hidden_units"), kwargs.pop("dropout_ratio")
    layers = []
    for i, width in enumerate(units):
        rate = [rates[0] if len(rates) == 1 else rates[i]] if rates else []
        layers.append(MLP(input_dim, [width], dropout_ratio=rate, **kwargs, name=f"{name}_{i}"))
        input_dim = width
    return layers


def run_stack(layers: list[MLP], x: tf.Tensor, training: bool) -> list[tf.Tensor]:
    """The output of every layer of a stack."""
    hidden = []
    for layer in layers:
        x = layer(x, training)
        hidden.append(x)
    return hidden


def cosine_agreement(student: tf.Tensor, teacher: tf.Tensor) -> tf.Tensor:
    """Mean cosine similarity of the rows of student and (not differentiated) teacher."""
    teacher = tf.math.l2_normalize(tf.stop_gradient(teacher), axis=1)
    return tf.reduce_mean(tf.reduce_sum(tf.math.l2_normalize(student, axis=1) * teacher, axis=1))


def euclidean_gap(student: tf.Tensor, teacher: tf.Tensor) -> tf.Tensor:
    """||student - stop_gradient(teacher)|| over all rows and columns (EasyRec's EUCLID)."""
    return tf.sqrt(tf.reduce_sum(tf.square(student - tf.stop_gradient(teacher))))


@register_model("RocketLaunching", rocket_launching_pb2.RocketLaunching)
class RocketLaunching(RankModel):
    """Booster and light networks over group 'all' (module docstring)."""

    @property
    def tasks(self) -> list[Task]:
        label = self.main_label
        return [Task(name, label, loss_pb2.CLASSIFICATION, self.num_class)
                for name in ("light", "booster")]

    def build(self, feature_layer: FeatureLayer) -> None:
        params = self.params
        dim = feature_layer.group_dim("all")
        self.share = MLP(dim, **mlp_kwargs(params.share_dnn), name="share_dnn") \
            if params.share_dnn.hidden_units else None
        width = self.share.output_dim if self.share else dim
        self.booster = layer_stack(width, params.booster_dnn, "booster_dnn")
        self.light = layer_stack(width, params.light_dnn, "light_dnn")
        light, booster = self.tasks
        self.light_output = Dense(self.light[-1].output_dim, light.output_dim, name="light_output")
        self.booster_output = Dense(self.booster[-1].output_dim, booster.output_dim,
                                    name="booster_output")
        booster_widths = list(params.booster_dnn.hidden_units)
        # each light hidden layer and the first booster layer of its width
        self.hint_pairs = [(i, booster_widths.index(w))
                           for i, w in enumerate(params.light_dnn.hidden_units)
                           if params.feature_based_distillation and w in booster_widths]

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        shared = features.concat("all")
        if self.share:
            shared = self.share(shared, training)
        booster = run_stack(self.booster, shared, training)
        light = run_stack(self.light, tf.stop_gradient(shared), training)
        light_task, booster_task = self.tasks
        outputs = {**self.outputs_from_logits(self.light_output(light[-1]), light_task),
                   **self.outputs_from_logits(self.booster_output(booster[-1]), booster_task)}
        if self.hint_pairs:
            if self.params.feature_distillation_function == match_pb2.EUCLID:
                terms = [euclidean_gap(light[i], booster[j]) for i, j in self.hint_pairs]
                outputs[FEATURE_LOSS_KEY] = FEATURE_LOSS_WEIGHT * tf.add_n(terms)
            else:
                outputs[FEATURE_LOSS_KEY] = -FEATURE_LOSS_WEIGHT * tf.add_n(
                    [cosine_agreement(light[i], booster[j]) for i, j in self.hint_pairs])
        return outputs

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        """Both cross entropies, `hint_loss` and the feature-based distillation loss."""
        light, booster = self.tasks
        gap = outputs[light.key("logits")] - tf.stop_gradient(outputs[booster.key("logits")])
        squared = tf.square(gap)
        if squared.shape.rank == 2:
            squared = tf.reduce_mean(squared, axis=1)
        terms = super().loss_dict(outputs, batch)
        terms["hint_loss"] = weighted_mean(squared, self.row_weights(light, batch))
        if FEATURE_LOSS_KEY in outputs:
            terms[FEATURE_LOSS_KEY] = outputs[FEATURE_LOSS_KEY]
        return terms

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        require_groups(model_config, ["all"], locate)
        params = model_config.rocket_launching
        for net in ("booster_dnn", "light_dnn"):
            require(bool(getattr(params, net).hidden_units), f"model_config.rocket_launching.{net}",
                    f"RocketLaunching needs {net} {{ hidden_units: [...] }}", locate)
        require(model_config.loss_type == loss_pb2.CLASSIFICATION, "model_config.loss_type",
                "RocketLaunching trains both nets with cross entropy: loss_type must be "
                "CLASSIFICATION", locate)
        require(not model_config.losses, "model_config.losses", "RocketLaunching has its own "
                "losses (cross entropies, hint and feature distillation)", locate)
        require(not params.feature_based_distillation
                or params.feature_distillation_function != match_pb2.INNER_PRODUCT,
                "model_config.rocket_launching.feature_distillation_function",
                "feature-based distillation compares hidden layers by COSINE similarity or "
                "EUCLID distance", locate)
