"""Output heads: how a task turns its logits into outputs, by the losses it is trained with.

    head        logits width   outputs
    binary      1              logits [B], probs = sigmoid(logits)
    multiclass  num_class      logits [B, C], probs = softmax(logits), y = argmax
    regression  1              y = logits
    sigmoid     1              logits [B], y = sigmoid(logits)           (SIGMOID_L2_LOSS)
    jrc         2              logits [B, 2], pos_logits, probs = softmax(logits)[:, 1]
    ziln        3              logits [B, 3], probs = P(y > 0), y = E[y]  (zero-inflated lognormal)

The outputs follow EasyRec's rank_model: JRC's probs are the positive class's probability and
ZILN's y is the expected value of the zero-inflated lognormal.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence

import tensorflow as tf

from easy_rec.models.losses.ziln import ziln_prediction

HeadFunction = Callable[[tf.Tensor], dict[str, tf.Tensor]]


def _binary(logits: tf.Tensor) -> dict[str, tf.Tensor]:
    logits = tf.reshape(logits, [-1])
    return {"logits": logits, "probs": tf.sigmoid(logits)}


def _multiclass(logits: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"logits": logits, "probs": tf.nn.softmax(logits), "y": tf.argmax(logits, axis=1)}


def _regression(logits: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"y": tf.reshape(logits, [-1])}


def _sigmoid(logits: tf.Tensor) -> dict[str, tf.Tensor]:
    logits = tf.reshape(logits, [-1])
    return {"y": tf.sigmoid(logits), "logits": logits}


def _jrc(logits: tf.Tensor) -> dict[str, tf.Tensor]:
    return {"logits": logits, "pos_logits": logits[:, 1], "probs": tf.nn.softmax(logits)[:, 1]}


def _ziln(logits: tf.Tensor) -> dict[str, tf.Tensor]:
    probs, value = ziln_prediction(logits)
    return {"logits": logits, "probs": probs, "y": value}


#: head name -> (logits width given num_class, outputs from logits)
HEADS: dict[str, tuple[Callable[[int], int], HeadFunction]] = {
    "binary": (lambda _: 1, _binary),
    "multiclass": (lambda num_class: num_class, _multiclass),
    "regression": (lambda _: 1, _regression),
    "sigmoid": (lambda _: 1, _sigmoid),
    "jrc": (lambda _: 2, _jrc),
    "ziln": (lambda _: 3, _ziln),
}
#: heads whose num_class is fixed (the value EasyRec requires in the config)
FIXED_NUM_CLASS = {"binary": 1, "regression": 1, "sigmoid": 1, "jrc": 2, "ziln": 3}
#: heads predicting a class probability ('probs'); those predicting a value have 'y'
PROBABILITY_HEADS = frozenset({"binary", "multiclass", "jrc", "ziln"})
VALUE_HEADS = frozenset({"regression", "sigmoid", "ziln"})


def head_outputs(head: str, logits: tf.Tensor) -> dict[str, tf.Tensor]:
    """Outputs of `head` from [batch, width] logits."""
    return HEADS[head][1](logits)


def logits_width(head: str, num_class: int) -> int:
    """Width of the logits `head` takes."""
    return HEADS[head][0](num_class)


def common_head(heads: Sequence[str]) -> str:
    """The one head of a task's losses; ValueError when they need different ones."""
    found = list(dict.fromkeys(heads))
    if len(found) != 1:
        raise ValueError(f"the losses of one task need one kind of output, got {', '.join(found)}")
    return found[0]
