"""TensorBoard extras of train_config: gradient summaries (summary_model_vars) and the train
step's graph (write_graph)."""
from __future__ import annotations

import logging
import os
from collections.abc import Sequence

import tensorflow as tf

logger = logging.getLogger(__name__)

GRAPH_FILE = "graph.pbtxt"


def gradient_summaries(grads: Sequence[tf.Tensor | tf.IndexedSlices | None],
                       variables: Sequence[tf.Variable]) -> None:
    """summary_model_vars, as EasyRec's optimize_loss with its "gradients" and "gradient_norm"
    summaries: per trained variable (``:`` in its name replaced by ``_``), a histogram
    ``gradients/<name>`` of its gradient (the looked-up rows' gradients for an embedding table)
    and a scalar ``gradient_norm/<name>``, the gradient's L2 norm. Graph-safe; what is written
    follows the enclosing tf.summary.record_if."""
    for grad, var in zip(grads, variables):
        if grad is None:
            continue
        values = grad.values if isinstance(grad, tf.IndexedSlices) else grad
        name = var.name.replace(":", "_")
        tf.summary.histogram(f"gradients/{name}", values)
        tf.summary.scalar(f"gradient_norm/{name}", tf.norm(values))


def write_graph(function: tf.types.experimental.ConcreteFunction, model_dir: str,
                writer: tf.summary.SummaryWriter) -> None:
    """write_graph: the graph of `function` (the train step) as ``model_dir/graph.pbtxt`` and
    in TensorBoard's Graphs tab (through `writer`), as EasyRec's checkpoint saver writes its
    training graph."""
    tf.io.write_graph(function.graph.as_graph_def(), model_dir, GRAPH_FILE, as_text=True)
    with writer.as_default():
        tf.summary.graph(function.graph)
    logger.info("wrote the train step's graph to %s and TensorBoard",
                os.path.join(model_dir, GRAPH_FILE))
