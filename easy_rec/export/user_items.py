"""The `score_user_items` signature: one user × N items per call.

Its user-side inputs (the columns of the features export_config declares user-side) have
batch 1, the others batch N; it returns serving_default's outputs for the N rows "the user's
row next to each item row". The user-side features are encoded and looked up once, and
sub-networks over user-side groups only (user towers) run once (easy_rec.features.user_side);
the scores equal serving_default's on the tiled rows.
"""
from __future__ import annotations

from collections.abc import Callable

import tensorflow as tf

from easy_rec.features.group_attention import attention_members
from easy_rec.models.base import RankModel
from easy_rec.protos import pipeline_pb2

SIGNATURE = "score_user_items"


def user_features(config: pipeline_pb2.EasyRecConfig) -> list[str]:
    """The user-side feature names: export_config.user_features, then the features of each
    export_config.user_feature_groups entry (with the members of its sequence_features);
    empty when the config declares none (then the export has no score_user_items)."""
    export = config.export_config
    groups = {g.group_name: g for g in config.model_config.feature_groups}
    names = list(export.user_features)
    for group in export.user_feature_groups:
        names += groups[group].feature_names
        names += [n for entry in groups[group].sequence_features
                  for members in attention_members(entry) for n in members]
    return list(dict.fromkeys(names))


def split_columns(model: RankModel, features: list[str]) -> tuple[list[str], list[str]]:
    """(user-side columns, item-side columns) of the model's serving inputs; ValueError when
    the model cannot score one user × N items or either side is empty."""
    if model.user_items_refusal:
        raise ValueError(f"{type(model).__name__} cannot export {SIGNATURE}: "
                         f"{model.user_items_refusal}")
    user = set(model.feature_layer.user_columns(features))
    columns = model.serving_input_names
    split = [c for c in columns if c in user], [c for c in columns if c not in user]
    if not split[0]:
        raise ValueError(f"{SIGNATURE}: none of the declared user features "
                         f"({', '.join(features)}) is an input of the model")
    if not split[1]:
        raise ValueError(f"{SIGNATURE}: every input column of the model is read by a "
                         "declared user feature, so no input is item-side")
    return split


def user_items_specs(specs: dict[str, tf.TensorSpec], user_columns: list[str]
                     ) -> dict[str, tf.TensorSpec]:
    """serving_default's input specs with batch 1 for the user-side columns."""
    return {name: tf.TensorSpec([1, *spec.shape[1:]], spec.dtype, name=name)
            if name in user_columns else spec for name, spec in specs.items()}


def user_items_function(model: RankModel, features: list[str], item_column: str,
                        call: Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]
                        ) -> Callable[[dict[str, tf.Tensor]], dict[str, tf.Tensor]]:
    """The signature's function: `call` (the serving function: inputs -> outputs) run as a one
    user × N items call, N being the rows of `item_column`."""
    def score(inputs: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        with model.feature_layer.user_side(features, tf.shape(inputs[item_column])[0]):
            outputs = call(inputs)
        for name, value in outputs.items():
            if value.shape.rank and value.shape[0] == 1:
                raise ValueError(f"{type(model).__name__} cannot export {SIGNATURE}: its "
                                 f"output {name!r} is computed from user-side inputs only "
                                 "and not broadcast to the items")
        return outputs
    return score
