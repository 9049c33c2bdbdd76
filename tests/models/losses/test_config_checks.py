"""Config checks of losses, kd, loss_weight_strategy, variational_dropout and the new models,
each naming the field and line."""
from __future__ import annotations

import os

import pytest
from conftest import SAMPLES

from easy_rec.config.errors import ConfigError
from easy_rec.pipeline import parse_pipeline_config_text


def sample_text(name: str) -> str:
    with open(os.path.join(SAMPLES, name), encoding="utf-8") as f:
        return f.read()


RANKING = sample_text("options/ranking_losses_on_movielens.config")
MULTI = sample_text("options/multi_loss_uncertainty_on_movielens.config")
KD = sample_text("options/kd_on_movielens.config")


def error_of(text: str) -> ConfigError:
    with pytest.raises(ConfigError) as info:
        parse_pipeline_config_text(text, path="x.config")
    return info.value


def line_of(needle: str, text: str) -> int:
    return text[:text.index(needle)].count("\n") + 1


def test_samples_pass():
    for name in ("options/ranking_losses_on_movielens.config",
                 "options/multi_loss_uncertainty_on_movielens.config",
                 "options/kd_on_movielens.config", "options/mmoe_experts_on_movielens.config",
                 "options/variational_dropout_on_movielens.config",
                 "simple_multi_task_on_movielens.config", "rocket_launching_on_movielens.config"):
        parse_pipeline_config_text(sample_text(name), path=name)


@pytest.mark.parametrize("old,new,field,reason", [
    ('pairwise_logistic_loss { session_name: "user_id"',
     'pairwise_logistic_loss { session_name: "uid"', "model_config.losses[1]"
     ".pairwise_logistic_loss.session_name", "session_name 'uid' is not in data_config"),
    ("listwise_rank_loss { session_name: \"user_id\" }", "listwise_rank_loss { }",
     "model_config.losses[2].loss_type", "LISTWISE_RANK_LOSS compares the rows of a session"),
    ("loss_type: LISTWISE_RANK_LOSS", "loss_type: PAIR_WISE_LOSS",
     "model_config.losses[2].listwise_rank_loss", "listwise_rank_loss does not configure "
     "PAIR_WISE_LOSS (its parameters are PairwiseLoss)"),
    ("loss_type: CLASSIFICATION\n    weight: 1.0", "loss_type: CROSS_ENTROPY_LOSS\n    weight: 1.0",
     "model_config.losses[0].loss_type", "CROSS_ENTROPY_LOSS is not a loss of a task's output: "
     "it is a knowledge-distillation loss"),
    ("loss_type: CLASSIFICATION\n    weight: 1.0", "loss_type: JRC_LOSS\n    weight: 1.0",
     "model_config.losses[0].loss_type", "JRC_LOSS compares the rows of a session"),
    ("loss_type: CLASSIFICATION\n    weight: 1.0",
     "loss_type: CLASSIFICATION\n    weight: 1.0\n    learn_loss_weight: true",
     "model_config.losses[0].learn_loss_weight", "needs model_config.loss_weight_strategy: "
     "Uncertainty"),
    ('pairwise_logistic_loss { session_name: "user_id" temperature: 1.0 }',
     'pairwise_logistic_loss { session_name: "user_id" ohem_ratio: 0 }',
     "model_config.losses[1].pairwise_logistic_loss.ohem_ratio", "ohem_ratio must be in (0, 1]"),
    ('listwise_rank_loss { session_name: "user_id" }',
     'listwise_rank_loss { session_name: "user_id" transform_fn: "os.system" }',
     "model_config.losses[2].listwise_rank_loss.transform_fn", "must name a function of tf.math"),
])
def test_ranking_loss_errors(old, new, field, reason):
    text = RANKING.replace(old, new)
    assert text != RANKING
    error = error_of(text)
    assert error.field == field and reason in error.reason, error


def test_losses_of_a_task_share_their_head_and_num_class():
    text = RANKING.replace("loss_type: LISTWISE_RANK_LOSS", "loss_type: L2_LOSS").replace(
        '    listwise_rank_loss { session_name: "user_id" }\n', "")
    error = error_of(text)
    assert error.field == "model_config.losses[2].loss_type"
    assert "need one kind of output, got binary, regression" in error.reason
    text = MULTI.replace("      num_class: 2\n", "")
    error = error_of(text)
    assert error.field == "model_config.dbmtl.task_towers[1].num_class"
    assert "JRC_LOSS needs num_class 2, got 1" in error.reason


def test_multi_task_loss_errors():
    # a TaskTower (MMoE) has no relation_tower_names to bound the task by
    mmoe = sample_text("mmoe_on_movielens.config").replace(
        '      label_name: "top_rating"\n', '      label_name: "top_rating"\n      losses { '
        'loss_type: CLASSIFICATION }\n      losses { loss_type: ORDER_CALIBRATE_LOSS }\n')
    error = error_of(mmoe)
    assert error.field == "model_config.mmoe.task_towers[1].losses[1].loss_type"
    assert "needs relation_tower_names" in error.reason
    error = error_of(MULTI.replace('task_space_indicator_label: "label"',
                                   'task_space_indicator_label: "click"'))
    assert error.field == "model_config.dbmtl.task_towers[1].task_space_indicator_label"
    error = error_of(MULTI.replace("  loss_weight_strategy: Uncertainty\n",
                                   "  loss_weight_strategy: Uncertainty\n  losses { }\n"))
    assert error.field == "model_config.losses" and "in its task towers" in error.reason
    # the Uncertainty weights need the strategy
    error = error_of(MULTI.replace("  loss_weight_strategy: Uncertainty\n", ""))
    assert error.field == "model_config.dbmtl.task_towers[0].losses[0].learn_loss_weight"
    assert error.line == line_of("learn_loss_weight: true", MULTI)


def test_metrics_follow_the_losses_head():
    text = MULTI.replace("      metrics_set { log_loss {} }\n",
                         "      metrics_set { root_mean_squared_error {} }\n")
    error = error_of(text)
    assert error.field == "model_config.dbmtl.task_towers[1].metrics_set[1]"
    assert "trained with JRC_LOSS, ORDER_CALIBRATE_LOSS" in error.reason


@pytest.mark.parametrize("old,new,field,reason", [
    ('soft_label_name: "rating"', 'soft_label_name: "teacher"', "model_config.kd[0]"
     ".soft_label_name", "must be one of data_config.label_fields (label, rating)"),
    ("loss_type: CROSS_ENTROPY_LOSS", "loss_type: ORDER_CALIBRATE_LOSS",
     "model_config.kd[0].loss_type", "ORDER_CALIBRATE_LOSS is not a distillation loss"),
    ("temperature: 2.0", "temperature: 2.0\n    pairwise_loss { }",
     "model_config.kd[0].pairwise_loss", "CROSS_ENTROPY_LOSS takes no loss_param"),
    ("temperature: 2.0", "temperature: 2.0\n    task_space_indicator_name: \"page\"",
     "model_config.kd[0].task_space_indicator_name", "'page' is not in data_config"),
])
def test_kd_errors(old, new, field, reason):
    error = error_of(KD.replace(old, new))
    assert error.field == field and reason in error.reason, error


def test_model_specific_refusals():
    dssm = sample_text("dssm_on_movielens.config").replace(
        "  loss_type: SOFTMAX_CROSS_ENTROPY\n",
        "  loss_type: SOFTMAX_CROSS_ENTROPY\n  variational_dropout { }\n")
    error = error_of(dssm)
    assert error.field == "model_config.variational_dropout"
    esmm = sample_text("esmm_on_movielens.config").replace(
        'label_name: "top_rating"', 'label_name: "top_rating"\n      losses { }')
    error = error_of(esmm)
    assert error.field == "model_config.esmm.cvr_tower.losses"
    rocket = sample_text("rocket_launching_on_movielens.config")
    error = error_of(rocket.replace("feature_distillation_function: COSINE",
                                    "feature_distillation_function: INNER_PRODUCT"))
    assert error.field == "model_config.rocket_launching.feature_distillation_function"
    parse_pipeline_config_text(rocket.replace("feature_distillation_function: COSINE",
                                              "feature_distillation_function: EUCLID"))
    error = error_of(rocket.replace("  embedding_regularization: 1e-5\n",
                                    "  embedding_regularization: 1e-5\n  loss_type: L2_LOSS\n"))
    assert error.field == "model_config.loss_type" and "CLASSIFICATION" in error.reason
    experts = sample_text("options/mmoe_experts_on_movielens.config").replace(
        "[64] use_bn", "[32] use_bn")
    error = error_of(experts)
    assert error.field == "model_config.mmoe.experts[2].dnn" and "64, 32" in error.reason


def test_unimplemented_options_are_refused_with_a_reason():
    vd = sample_text("options/variational_dropout_on_movielens.config")
    error = error_of(vd.replace("regularization_lambda: 0.01",
                                "regularization_lambda: 0.01\n    regularize_by_feature_complexity: "
                                "true"))
    assert error.field == "model_config.variational_dropout.regularize_by_feature_complexity"
    assert "is not supported: feature-complexity regularisation" in error.reason
    error = error_of(RANKING.replace("loss_type: PAIRWISE_LOGISTIC_LOSS", "loss_type: CIRCLE_LOSS"))
    assert "CIRCLE_LOSS is not supported" in error.reason


def test_order_calibration_without_relation_towers_adds_nothing_as_in_easyrec(caplog):
    # EasyRec bounds a DBMTL / backbone task by each of its relation_tower_names: none, no term
    text = MULTI.replace('      relation_tower_names: "ctr"\n', "")
    assert text != MULTI
    with caplog.at_level("WARNING"):
        parse_pipeline_config_text(text, path="x.config")
    assert "ORDER_CALIBRATE_LOSS without relation_tower_names adds nothing" in caplog.text
