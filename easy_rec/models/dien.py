"""DIEN (Deep Interest Evolution Network, Zhou et al. 2019)."""
from __future__ import annotations

import tensorflow as tf

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, SequenceGroup
from easy_rec.layers.auxiliary_loss import next_behavior_loss
from easy_rec.layers.core import Dense
from easy_rec.layers.gru import GRU
from easy_rec.layers.target_attention import TargetAttention
from easy_rec.models.checks import require
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.models.registry import register_model
from easy_rec.models.sequence_base import SequenceInterestModel
from easy_rec.protos import dien_pb2, dnn_pb2, easy_rec_model_pb2


@register_model("DIEN", dien_pb2.DIEN)
class DIEN(SequenceInterestModel):
    """Interest extractor GRU over the history (states h_t); attention a_t of the target to h_t
    (att_dnn, softmax over the real steps); interest evolving AUGRU over h_t with update gates
    scaled by a_t; dnn over [feature groups, final AUGRU state, target].

    The sequence and attention MLP come from `input` / `att_dnn`, or from EasyRec's form
    `din_towers { input dnn }` (one tower).

    Auxiliary loss: h_t (mapped to the behaviours' width by a linear layer) should score the
    next behaviour e_{t+1} above a behaviour of another row of the batch.
    """

    @staticmethod
    def sequence_input(params: dien_pb2.DIEN) -> str:
        return params.din_towers[0].input if params.din_towers else params.input

    def build_interest(self, feature_layer: FeatureLayer, group: str) -> int:
        query_dim, seq_dim, _ = feature_layer.sequence_dims(group)
        units = int(self.params.gru_units)
        self.extractor = GRU(seq_dim, units, name="interest_extractor")
        # the target in the GRU state space, so att_dnn compares like with like
        self.target_projection = Dense(query_dim, units, use_bias=False, name="target_projection")
        self.attention = TargetAttention(units, mlp_kwargs(attention_dnn(self.params)), "softmax",
                                         name="attention")
        self.evolution = GRU(units, units, name="interest_evolution")
        self.aux_projection = Dense(units, seq_dim, use_bias=False, name="aux_projection")
        return units + query_dim

    def interest(self, seq: SequenceGroup, training: bool,
                 with_aux_loss: bool) -> tuple[tf.Tensor, tf.Tensor | None]:
        states, _ = seq.history_per_user(self.extractor)
        target = self.target_projection(seq.query)
        weights = self.attention.attention_weights(target, states, seq.mask, training)
        _, final = self.evolution(states, seq.mask, attention=weights)
        aux_loss = next_behavior_loss(self.aux_projection(states), seq.sequence, seq.mask) \
            if with_aux_loss else None
        return tf.concat([final, seq.query], axis=1), aux_loss

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        params = model_config.dien
        require(len(params.din_towers) <= 1, "model_config.dien.din_towers[1]",
                "DIEN reads one behaviour sequence: give one din_towers entry", locate)
        require(not (params.din_towers and (params.input or params.HasField("att_dnn"))),
                "model_config.dien.din_towers", "give the sequence as din_towers { input dnn } "
                "(EasyRec's form) or as input + att_dnn, not both", locate)
        require(bool(cls.sequence_input(params)), "model_config.dien.input",
                "DIEN needs its sequence: input (a seq_att_groups entry) or din_towers "
                "{ input dnn }", locate)
        super().validate_config(model_config, locate)
        require(model_config.dien.gru_units >= 1, "model_config.dien.gru_units",
                "gru_units must be >= 1", locate)


def attention_dnn(params: dien_pb2.DIEN) -> dnn_pb2.DNN:
    """The attention MLP: din_towers[0].dnn in EasyRec's form, else att_dnn."""
    return params.din_towers[0].dnn if params.din_towers else params.att_dnn
