"""The names under which loss terms are logged and reported, as EasyRec names the entries of
its loss_dict (rank_model / multi_task_model `build_loss_graph`, loss_builder `build_kd_loss`):

    CLASSIFICATION, BINARY_CROSS_ENTROPY_LOSS  cross_entropy_loss<suffix>
    L2_LOSS, SIGMOID_L2_LOSS                   l2_loss<suffix>
    any other loss type                        <loss type in lower case><suffix>
    ORDER_CALIBRATE_LOSS                       order_calibrate_loss<suffix>
    a kd entry                                 kd_loss_<pred_name>_<soft_label_name>

where <suffix> is `_<tower name>` for a task of a multi-task model and empty otherwise. A
Loss entry's `loss_name` replaces the name (other loss types: loss_name<suffix>), a kd entry's
`loss_name` replaces its name. Where two terms would share a name (EasyRec keeps only the
last), the later ones get `_1`, `_2`, ...
"""
from __future__ import annotations

from collections.abc import Iterable

from easy_rec.protos import easy_rec_model_pb2, loss_pb2

CROSS_ENTROPY_TYPES = (loss_pb2.CLASSIFICATION, loss_pb2.BINARY_CROSS_ENTROPY_LOSS)
L2_TYPES = (loss_pb2.L2_LOSS, loss_pb2.SIGMOID_L2_LOSS)
#: the regularization term (embedding_regularization + l2_regularization), as EasyRec names it
REGULARIZATION = "regularization_loss"
#: the sum of every loss term and the regularization
TOTAL = "total_loss"


def loss_type_name(loss_type: int) -> str:
    """A loss type's default term name without suffix: 'cross_entropy_loss', 'l2_loss', else
    the type's name in lower case (e.g. 'pairwise_focal_loss')."""
    if loss_type in CROSS_ENTROPY_TYPES:
        return "cross_entropy_loss"
    if loss_type in L2_TYPES:
        return "l2_loss"
    return loss_pb2.LossType.Name(loss_type).lower()


def term_name(loss: loss_pb2.Loss, suffix: str = "") -> str:
    """The name of one configured loss of a task (module docstring)."""
    if loss.loss_name:
        if loss.loss_type in CROSS_ENTROPY_TYPES or loss.loss_type in L2_TYPES:
            return loss.loss_name
        return loss.loss_name + suffix
    return loss_type_name(loss.loss_type) + suffix


def kd_name(kd: easy_rec_model_pb2.KD) -> str:
    """The name of a kd entry's distillation term."""
    if kd.loss_name:
        return kd.loss_name
    return "kd_loss_" + "_".join(n.replace("/", "_") for n in (kd.pred_name, kd.soft_label_name))


def unique_names(names: Iterable[str], taken: Iterable[str] = ()) -> list[str]:
    """`names`, each later repeat (of a name before it or in `taken`) suffixed _1, _2, ..."""
    seen = set(taken)
    out = []
    for name in names:
        candidate, count = name, 0
        while candidate in seen:
            count += 1
            candidate = f"{name}_{count}"
        seen.add(candidate)
        out.append(candidate)
    return out
