"""Base of ranking models built around one behaviour sequence with an auxiliary loss (DIEN, DMR)."""
from __future__ import annotations

import tensorflow as tf
from google.protobuf.message import Message

from easy_rec.config.context import Locate
from easy_rec.features.feature_layer import FeatureLayer, FeatureLayerOutput, SequenceGroup
from easy_rec.layers.core import MLP, Dense
from easy_rec.models.base import RankModel
from easy_rec.models.checks import require, require_sequence_groups
from easy_rec.models.layer_args import mlp_kwargs
from easy_rec.protos import easy_rec_model_pb2, feature_config_pb2

#: output key of the auxiliary loss (present only in training outputs)
AUX_LOSS_KEY = "aux_loss"


class SequenceInterestModel(RankModel):
    """logit = output(dnn([group_1, ..., group_n, interest])).

    The groups are every feature group with deep outputs; `interest` ([batch, width]) is what
    the subclass extracts from the seq_att_groups entry named by the block's `input` field.
    While training, the subclass also returns an auxiliary loss, and the training loss becomes
    the task loss + aux_loss_weight * aux_loss (unweighted by sample weights). Evaluation and
    serving skip the auxiliary computation.
    """

    @staticmethod
    def sequence_input(params: Message) -> str:
        """The seq_att_groups entry the model block reads (its `input`)."""
        return params.input

    def build(self, feature_layer: FeatureLayer) -> None:
        self._groups = [g for g, (_, kind) in feature_layer.groups.items()
                        if kind != feature_config_pb2.WIDE]
        self._sequence_group = self.sequence_input(self.params)
        query_dim, _, _ = feature_layer.sequence_dims(self._sequence_group)
        if not query_dim:
            raise ValueError(f"{self.model_config.model_class}: sequence group "
                             f"{self._sequence_group!r} needs the target item as its keys")
        width = self.build_interest(feature_layer, self._sequence_group)
        width += sum(feature_layer.group_dim(g) for g in self._groups)
        self.dnn = MLP(width, **mlp_kwargs(self.params.dnn), name="dnn")
        self.output_layer = Dense(self.dnn.output_dim, self.output_dim, name="output")

    def build_interest(self, feature_layer: FeatureLayer, group: str) -> int:
        """Creates the sequence layers of sequence group `group`; returns the interest width."""
        raise NotImplementedError

    def interest(self, seq: SequenceGroup, training: bool,
                 with_aux_loss: bool) -> tuple[tf.Tensor, tf.Tensor | None]:
        """([batch, width] interest, the scalar auxiliary loss when with_aux_loss else None)."""
        raise NotImplementedError

    def forward(self, features: FeatureLayerOutput, training: bool,
                with_aux_loss: bool) -> tuple[tf.Tensor, tf.Tensor | None]:
        """(logits [batch, output_dim], auxiliary loss or None)."""
        interest, aux_loss = self.interest(features.sequence[self._sequence_group], training,
                                           with_aux_loss)
        parts = [features.concat(g) for g in self._groups] + [interest]
        return self.output_layer(self.dnn(tf.concat(parts, axis=1), training)), aux_loss

    def logits(self, features: FeatureLayerOutput, training: bool) -> tf.Tensor:
        return self.forward(features, training, with_aux_loss=False)[0]

    def task_outputs(self, features: FeatureLayerOutput, training: bool) -> dict[str, tf.Tensor]:
        with_aux_loss = training and self.params.aux_loss_weight > 0
        logits, aux_loss = self.forward(features, training, with_aux_loss)
        outputs = self.outputs_from_logits(logits)
        if aux_loss is not None:
            outputs[AUX_LOSS_KEY] = aux_loss
        return outputs

    def loss_dict(self, outputs: dict[str, tf.Tensor], batch: dict[str, tf.Tensor]
                  ) -> dict[str, tf.Tensor]:
        """Task losses, plus `aux_loss`: aux_loss_weight * the auxiliary loss on training
        outputs."""
        terms = super().loss_dict(outputs, batch)
        if AUX_LOSS_KEY in outputs:
            terms[AUX_LOSS_KEY] = float(self.params.aux_loss_weight) * outputs[AUX_LOSS_KEY]
        return terms

    @classmethod
    def validate_config(cls, model_config: easy_rec_model_pb2.EasyRecModel, locate: Locate) -> None:
        block = model_config.WhichOneof("model")
        params = getattr(model_config, block)
        group = cls.sequence_input(params)
        require_sequence_groups(model_config, [group], locate)
        index = [g.group_name for g in model_config.seq_att_groups].index(group)
        require(any(m.key for m in model_config.seq_att_groups[index].seq_att_map),
                f"model_config.seq_att_groups[{index}].seq_att_map",
                f"{model_config.model_class} compares the history with the target item: sequence "
                f"group {group!r} needs a key in its seq_att_map", locate)
        require(params.aux_loss_weight >= 0, f"model_config.{block}.aux_loss_weight",
                f"aux_loss_weight must be >= 0, got {params.aux_loss_weight}", locate)
