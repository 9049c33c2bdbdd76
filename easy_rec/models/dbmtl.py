"""DBMTL: shared bottom (optionally MMoE) and task towers linked by Bayesian dependencies."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput
from easy_rec.layers.core import MLP
from easy_rec.layers.experts import MMoELayer
from easy_rec.models.backbone.network import optional_backbone
from easy_rec.models.cmbf import CMBFFusion, check_cmbf_tower
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.multi_task import (
    MultiTaskModel,
    TowerHead,
    check_relation_towers,
    config_error,
)
from easy_rec.models.registry import register_model
from easy_rec.models.uniter import UniterFusion, check_uniter_tower
from easy_rec.protos import easy_rec_model_pb2, multi_task_pb2


@register_model("DBMTL", multi_task_pb2.DBMTL)
class DBMTL(MultiTaskModel):
    """Group 'all' -> bottom_dnn (or model_config.backbone, without bottom_dnn, as EasyRec)
    -> [MMoE] -> per task, in tower order:

    h_t = dnn_t(task input), r_t = relation_dnn_t([h_t, r_d for d in relation_tower_names]),
    logits_t = output_t(r_t); a tower sees the relation outputs of the towers it depends on.

    With bottom_cmbf or bottom_uniter the bottom is instead CMBF's / Uniter's fusion of the
    groups image, general, text and other (cmbf.md, uniter.md), and bottom_dnn is not used.
    use_feature_bn batch-normalises group 'all' before bottom_dnn (EasyRec's older DBMTL).
    """

    reads_backbone = True
    supports_grad_norm = True

    @property
    def unpooled_groups(self) -> tuple[str, ...]:
        return ("text",) if _fusion_field(self.params) else ()

    def build(self, feature_layer: FeatureLayer) -> None:
        params, tasks = self.params, self.tasks
        self.backbone = optional_backbone(self.model_config, feature_layer)
        self.bottom = None if self.backbone else self._bottom(feature_layer)
        dim = (self.backbone or self.bottom).output_dim
        self.mmoe = None
        if params.num_expert > 0:
            self.mmoe = MMoELayer(dim, mlp_kwargs(params.expert_dnn), int(params.num_expert),
                                  len(tasks))
            dim = self.mmoe.output_dim
        self.tower_dnns, self.heads = [], []
        relation_dims: dict[str, int] = {}
        for tower, task in zip(params.task_towers, tasks):
            tower_dnn = MLP(dim, **mlp_kwargs(tower.dnn), name=f"tower_{task.name}")
            width = tower_dnn.output_dim + sum(relation_dims[r] for r in tower.relation_tower_names)
            head = TowerHead(width, tower.relation_dnn, task.output_dim, name=f"relation_{task.name}")
            relation_dims[task.name] = head.dnn.output_dim
            self.tower_dnns.append(tower_dnn)
            self.heads.append(head)
        self._relations = [list(t.relation_tower_names) for t in params.task_towers]

    def _bottom(self, feature_layer: FeatureLayer) -> tf.Module:
        """bottom_cmbf's / bottom_uniter's fusion, else bottom_dnn over group 'all'."""
        fusion = _fusion_field(self.params)
        if fusion == "bottom_cmbf":
            return CMBFFusion(feature_layer, self.params.bottom_cmbf, name="bottom_cmbf")
        if fusion == "bottom_uniter":
            return UniterFusion(feature_layer, self.params.bottom_uniter, name="bottom_uniter")
        return MLP(feature_layer.group_dim("all"), **mlp_kwargs(self.params.bottom_dnn),
                   input_bn=self.params.use_feature_bn, name="bottom_dnn")

    def task_logits(self, features: FeatureLayerOutput, training: bool) -> list[tf.Tensor]:
        if self.backbone is not None:
            bottom, _ = self.backbone(features, training)
        elif _fusion_field(self.params):
            bottom = self.bottom(features, training)
        else:
            bottom = self.bottom(features.concat("all"), training)
        task_inputs = self.mmoe(bottom, training) if self.mmoe else [bottom] * len(self.heads)
        relation: dict[str, tf.Tensor] = {}
        logits = []
        for task, x, tower_dnn, head, deps in zip(self.tasks, task_inputs, self.tower_dnns,
                                                  self.heads, self._relations):
            hidden = tf.concat([tower_dnn(x, training)] + [relation[d] for d in deps], axis=1)
            relation[task.name] = head.dnn(hidden, training)
            logits.append(head.output(relation[task.name]))
        return logits

    def shared_kernel(self) -> tf.Variable:
        """GradNorm's shared weights: the kernel of bottom_dnn's last layer (EasyRec's)."""
        return self.bottom.dense_layers[-1].kernel

    @classmethod
    def input_groups(cls, model_config: easy_rec_model_pb2.EasyRecModel) -> list[str]:
        """'all', or none of its own with a backbone or a CMBF / Uniter bottom (which read the
        groups they name)."""
        if _fusion_field(model_config.dbmtl):
            return []
        return super().input_groups(model_config)

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.dbmtl
        if params.use_feature_bn and (_fusion_field(params) or model_config.HasField("backbone")):
            raise config_error(locate, "model_config.dbmtl.use_feature_bn", "use_feature_bn "
                               "normalises group 'all' before bottom_dnn; a backbone, "
                               "bottom_cmbf or bottom_uniter reads its own groups")
        super().validate_config(model_config, locate)
        where = "model_config.dbmtl"
        if params.HasField("bottom_cmbf") and params.HasField("bottom_uniter"):
            raise config_error(locate, f"{where}.bottom_uniter", "set bottom_cmbf or "
                               "bottom_uniter, not both")
        fusion = _fusion_field(params)
        if fusion and model_config.HasField("backbone"):
            raise config_error(locate, f"{where}.{fusion}", f"{fusion} and model_config."
                               "backbone both replace the bottom: set one")
        if params.HasField("bottom_cmbf"):
            check_cmbf_tower(model_config, params.bottom_cmbf, f"{where}.bottom_cmbf", locate)
        if params.HasField("bottom_uniter"):
            check_uniter_tower(model_config, params.bottom_uniter, f"{where}.bottom_uniter",
                               locate)
        if params.num_expert > 0 and not params.expert_dnn.hidden_units:
            raise config_error(locate, "model_config.dbmtl.expert_dnn",
                               "num_expert > 0 needs expert_dnn { hidden_units: [...] }")
        check_relation_towers(cls.towers_in(model_config), locate)
        if model_config.grad_norm and (fusion or model_config.HasField("backbone")
                                       or not params.bottom_dnn.hidden_units):
            raise config_error(locate, "model_config.grad_norm", "grad_norm balances the "
                               "task gradients at the last layer of bottom_dnn: DBMTL needs "
                               "bottom_dnn { hidden_units: [...] } (no backbone, bottom_cmbf "
                               "or bottom_uniter)")


def _fusion_field(params: multi_task_pb2.DBMTL) -> str | None:
    """'bottom_cmbf' or 'bottom_uniter' when one is set."""
    for field in ("bottom_cmbf", "bottom_uniter"):
        if params.HasField(field):
            return field
    return None
