"""EasyRec's backbone: models built from a DAG of named blocks over feature groups.

spec.py analyses the config (names, order, outputs), expressions.py interprets its Python
snippets safely, input_layer.py / block.py / package.py / network.py build and run it, and
config_checks.py checks it for `--check_config_only`. The model classes RankModel,
MultiTaskModel and MatchModel (rank_model.py, multi_task_model.py, match_model.py) register
themselves when this package is imported. See docs/backbone.md.
"""
from easy_rec.models.backbone import (  # noqa: F401  (the model classes register themselves)
    match_model,
    multi_task_model,
    rank_model,
)
