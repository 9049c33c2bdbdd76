"""ESMM: CTR and CVR towers trained over the entire impression space through p(ctcvr)."""
from __future__ import annotations

import math

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.base import scope_name
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP
from easy_rec.models.base import Task
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multi_task import MultiTaskModel, TowerAt, TowerHead, config_error, task_of
from easy_rec.models.registry import register_model
from easy_rec.protos import easy_rec_model_pb2, loss_pb2, multi_task_pb2

CTCVR = "ctcvr"
# log(p_ctcvr) is capped just below 0 so that log(1 - p_ctcvr) stays finite
_MAX_LOG_PROB = -1e-6


def product_logit(logits_a: tf.Tensor, logits_b: tf.Tensor) -> tf.Tensor:
    """Log-odds of sigmoid(a) * sigmoid(b), computed in log space.

    With x = log p = log_sigmoid(a) + log_sigmoid(b): logit = x - log(1 - e^x), where
    log(1 - e^x) is log(-expm1(x)) near 0 and log1p(-e^x) below -ln 2 (both exact there).
    """
    log_p = tf.minimum(tf.math.log_sigmoid(logits_a) + tf.math.log_sigmoid(logits_b),
                       _MAX_LOG_PROB)
    log_not_p = tf.where(log_p > -math.log(2.0), tf.math.log(-tf.math.expm1(log_p)),
                         tf.math.log1p(-tf.exp(log_p)))
    return log_p - log_not_p


@register_model("ESMM", multi_task_pb2.ESMM)
class ESMM(MultiTaskModel):
    """groups (one MLP per feature group, concatenated; default: group 'all') -> ctr tower and
    cvr tower -> p_ctr, p_cvr, p_ctcvr = p_ctr * p_cvr.

    Tasks (losses, metrics): ctr on the ctr label and ctcvr on the cvr label, both over every
    sample; the cvr tower learns only through p_ctcvr.
    """

    reserved_tower_names = (CTCVR,)

    @property
    def tasks(self) -> list[Task]:
        return [task_of(self.params.ctr_tower, 0, self.label_fields),
                task_of(self.params.cvr_tower, 1, self.label_fields, name=CTCVR)]

    @property
    def cvr_task(self) -> Task:
        """The cvr tower's outputs (probs_<cvr>, logits_<cvr>); it has no loss of its own."""
        return task_of(self.params.cvr_tower, 1, self.label_fields)

    def build(self, feature_layer: FeatureLayer) -> None:
        groups = self.params.groups
        self.group_dnns = [MLP(feature_layer.group_dim(g.input), **mlp_kwargs(g.dnn),
                               name=scope_name(f"group_{g.input}")) for g in groups]
        self._groups = [g.input for g in groups] or ["all"]
        dim = (sum(d.output_dim for d in self.group_dnns) if groups
               else feature_layer.group_dim("all"))
        self.ctr_head = TowerHead(dim, self.params.ctr_tower.dnn, 1, name="ctr_tower")
        self.cvr_head = TowerHead(dim, self.params.cvr_tower.dnn, 1, name="cvr_tower")

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        if self.group_dnns:
            shared = tf.concat([dnn(features.concat(g), training)
                                for dnn, g in zip(self.group_dnns, self._groups)], axis=1)
        else:
            shared = features.concat("all")
        ctr_logits = tf.reshape(self.ctr_head(shared, training), [-1])
        cvr_logits = tf.reshape(self.cvr_head(shared, training), [-1])
        ctr, ctcvr = self.tasks
        cvr = self.cvr_task
        outputs = {**self.outputs_from_logits(ctr_logits, ctr),
                   **self.outputs_from_logits(cvr_logits, cvr)}
        outputs[ctcvr.key("probs")] = outputs[ctr.key("probs")] * outputs[cvr.key("probs")]
        outputs[ctcvr.key("logits")] = product_logit(ctr_logits, cvr_logits)
        return outputs

    def serving_outputs(self, outputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        served = super().serving_outputs(outputs)
        served.update({self.cvr_task.key(k): outputs[self.cvr_task.key(k)]
                       for k in ("probs", "logits")})
        return served

    # -- config checks -----------------------------------------------------------------
    @classmethod
    def towers_in(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> list[TowerAt]:
        esmm = model_config.esmm
        return [("model_config.esmm.ctr_tower", esmm.ctr_tower),
                ("model_config.esmm.cvr_tower", esmm.cvr_tower)]

    @classmethod
    def input_groups(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> list[str]:
        return [g.input for g in model_config.esmm.groups] or ["all"]

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        super().validate_config(model_config, locate)
        for where, tower in cls.towers_in(model_config):
            if tower.loss_type != loss_pb2.CLASSIFICATION:
                raise config_error(locate, f"{where}.loss_type", "ESMM towers are binary "
                                   f"classifiers; loss_type must be CLASSIFICATION, got "
                                   f"{loss_pb2.LossType.Name(tower.loss_type)}")
            if tower.num_class != 1:
                raise config_error(locate, f"{where}.num_class", "ESMM towers are binary "
                                   f"classifiers; num_class must be 1, got {tower.num_class}")
            for field in ("losses", "task_space_indicator_label"):
                if getattr(tower, field):
                    raise config_error(locate, f"{where}.{field}", "ESMM trains its towers "
                                       "with its own ctr and ctcvr cross entropies; "
                                       f"{field} does not apply")
