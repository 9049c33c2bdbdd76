"""train_config.freeze_gradient: variables whose name matches a pattern are not trained.

As in EasyRec, each pattern is a regular expression searched (``re.search``) in the variable
name; a matching variable gets no gradient and no optimizer slots, so it keeps the value it
was initialised with or restored to (e.g. from fine_tune_checkpoint). The names are this
project's (``DeepFM/feature_layer/user_id_embedding/weights:0``), not TF1 EasyRec's
(``input_layer/user_id_embedding/embedding_weights``).
"""
from __future__ import annotations

import logging
import re
from collections.abc import Sequence

import tensorflow as tf

logger = logging.getLogger(__name__)


def trainable_after_freeze(variables: Sequence[tf.Variable], patterns: Sequence[str]
                           ) -> list[tf.Variable]:
    """The variables no pattern matches; logs the frozen ones and warns of idle patterns."""
    if not patterns:
        return list(variables)
    compiled = [re.compile(p) for p in patterns]
    kept, frozen = [], []
    used = [False] * len(compiled)
    for var in variables:
        hits = [i for i, pattern in enumerate(compiled) if pattern.search(var.name)]
        for i in hits:
            used[i] = True
        (frozen if hits else kept).append(var)
    for name in (v.name for v in frozen):
        logger.info("freeze_gradient: %s is not trained", name)
    for pattern, hit in zip(patterns, used):
        if not hit:
            logger.warning("freeze_gradient pattern %r matches no variable (names look like %s)",
                           pattern, ", ".join(v.name for v in list(variables)[:3]))
    return kept
