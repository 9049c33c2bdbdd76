"""Config checks of the losses: a task's `losses` (or loss_type), model_config.kd and
loss_weight_strategy, with the reasons EasyRec's own asserts give."""
from __future__ import annotations

import logging
from collections.abc import Sequence

from google.protobuf.message import Message

from easy_rec.config.context import Locate
from easy_rec.config.errors import ConfigError
from easy_rec.models.losses.heads import FIXED_NUM_CLASS, common_head
from easy_rec.models.losses.jrc import STRATEGIES
from easy_rec.models.losses.kd import KD_LOSSES
from easy_rec.models.losses.listwise import label_transform
from easy_rec.models.losses.registry import loss_spec, param_of
from easy_rec.protos import easy_rec_model_pb2, loss_pb2

logger = logging.getLogger(__name__)

LossType = loss_pb2.LossType
#: why a loss type is not a loss of a task's output
NOT_TASK_LOSSES = {
    loss_pb2.CROSS_ENTROPY_LOSS: "it is a knowledge-distillation loss (model_config.kd)",
    loss_pb2.KL_DIVERGENCE_LOSS: "it is a knowledge-distillation loss (model_config.kd)",
}
_SESSION_REQUIRED = (loss_pb2.JRC_LOSS, loss_pb2.LISTWISE_RANK_LOSS,
                     loss_pb2.LISTWISE_DISTILL_LOSS)


def _fail(locate: Locate, field: str, reason: str) -> ConfigError:
    return ConfigError(reason, line=locate(field), field=field)


def check_task_losses(where: str, losses: Sequence[loss_pb2.Loss], loss_type: int,
                      num_class: int, strategy: int, inputs: set[str], locate: Locate,
                      relations: Sequence[str] | None = None) -> str:
    """Checks one task's losses (`where`: the config path holding `losses` and loss_type);
    returns the task's head. relations: the tower's relation_tower_names (None: the task's
    message has no such field, e.g. a ranking model or a plain TaskTower)."""
    entries = [(f"{where}.losses[{i}]", loss) for i, loss in enumerate(losses)] \
        or [(f"{where}.loss_type", loss_pb2.Loss(loss_type=loss_type))]
    heads = []
    for path, loss in entries:
        name = LossType.Name(loss.loss_type)
        field = f"{path}.loss_type" if losses else path
        if loss.loss_type == loss_pb2.ORDER_CALIBRATE_LOSS:
            if relations is None:
                raise _fail(locate, field, "ORDER_CALIBRATE_LOSS bounds a task by the towers it "
                            "depends on: it needs relation_tower_names (a DBMTL tower)")
            if not relations:
                # EasyRec bounds the task by each of its relation_tower_names: none, no term
                logger.warning("%s (line %s): ORDER_CALIBRATE_LOSS without relation_tower_names "
                               "adds nothing, as in EasyRec", field, locate(field))
            continue
        spec = loss_spec(loss.loss_type)
        if spec is None:
            raise _fail(locate, field, f"{name} is not a loss of a task's output: "
                        f"{NOT_TASK_LOSSES.get(loss.loss_type, 'no task computes it')}")
        check_loss_param(path, loss, inputs, locate)
        if loss.learn_loss_weight and strategy != easy_rec_model_pb2.EasyRecModel.Uncertainty:
            raise _fail(locate, f"{path}.learn_loss_weight", "learn_loss_weight needs "
                        "model_config.loss_weight_strategy: Uncertainty")
        heads.append((field, spec.head_for(num_class)))
    if not heads:
        raise _fail(locate, f"{where}.losses", "a task needs a loss besides "
                    "ORDER_CALIBRATE_LOSS")
    try:
        head = common_head([h for _, h in heads])
    except ValueError as error:
        raise _fail(locate, heads[-1][0], f"{error} (the losses of a task share its outputs)"
                    ) from None
    wanted = FIXED_NUM_CLASS.get(head)
    if wanted is not None and num_class != wanted:
        names = ", ".join(dict.fromkeys(
            LossType.Name(loss.loss_type) for _, loss in entries
            if loss.loss_type != loss_pb2.ORDER_CALIBRATE_LOSS))
        raise _fail(locate, f"{where}.num_class", f"{names} needs num_class {wanted}, got "
                    f"{num_class}")
    return head


def check_loss_param(path: str, entry: Message, inputs: set[str], locate: Locate) -> None:
    """The loss_param of a Loss / KD entry configures its loss_type, names input columns and
    has valid values."""
    param = param_of(entry)
    spec = loss_spec(entry.loss_type)
    name = LossType.Name(entry.loss_type)
    expected = spec.term.param_type if spec else None
    which = entry.WhichOneof("loss_param")
    if param is not None and type(param) is not expected:
        raise _fail(locate, f"{path}.{which}", f"{which} does not configure {name}" + (
            f" (its parameters are {expected.DESCRIPTOR.name})" if expected else
            " (it takes no parameters)"))
    session = getattr(param, "session_name", "")
    if entry.loss_type in _SESSION_REQUIRED and not session:
        raise _fail(locate, f"{path}.loss_type", f"{name} compares the rows of a session: set "
                    f"its session_name (the input column of session ids)")
    if session and session not in inputs:
        raise _fail(locate, f"{path}.{which}.session_name", f"session_name {session!r} is not "
                    "in data_config.input_fields")
    if param is None:
        return
    if getattr(param, "transform_fn", ""):
        try:
            label_transform(param.transform_fn)
        except ValueError as error:
            raise _fail(locate, f"{path}.{which}.transform_fn", str(error)) from None
    if entry.loss_type == loss_pb2.JRC_LOSS and param.loss_weight_strategy not in STRATEGIES:
        raise _fail(locate, f"{path}.{which}.loss_weight_strategy", f"loss_weight_strategy "
                    f"{param.loss_weight_strategy!r} is not one of {', '.join(STRATEGIES)}")
    ohem = getattr(param, "ohem_ratio", 1.0)
    if not 0.0 < ohem <= 1.0:
        raise _fail(locate, f"{path}.{which}.ohem_ratio", f"ohem_ratio must be in (0, 1], "
                    f"got {ohem:g}")
    if getattr(param, "temperature", 1.0) == 0.0:
        raise _fail(locate, f"{path}.{which}.temperature", "temperature must not be 0")


def check_distillation(model_config: easy_rec_model_pb2.EasyRecModel, labels: Sequence[str],
                       inputs: set[str], locate: Locate) -> None:
    """Every kd entry names a label field as soft label, an output and a loss it can use."""
    for i, kd in enumerate(model_config.kd):
        path = f"model_config.kd[{i}]"
        if not kd.pred_name:
            raise _fail(locate, path, "kd needs pred_name (a model output, e.g. 'logits')")
        if kd.soft_label_name not in labels:
            raise _fail(locate, f"{path}.soft_label_name", f"soft_label_name "
                        f"{kd.soft_label_name!r} must be one of data_config.label_fields "
                        f"({', '.join(labels)})")
        name = LossType.Name(kd.loss_type)
        if kd.loss_type not in KD_LOSSES and loss_spec(kd.loss_type) is None:
            raise _fail(locate, f"{path}.loss_type", f"{name} is not a distillation loss")
        if kd.loss_type not in KD_LOSSES:
            check_loss_param(path, kd, inputs, locate)
        elif kd.WhichOneof("loss_param"):
            raise _fail(locate, f"{path}.{kd.WhichOneof('loss_param')}", f"{name} takes no "
                        "loss_param")
        indicator = kd.task_space_indicator_name
        if indicator and indicator not in inputs:
            raise _fail(locate, f"{path}.task_space_indicator_name", f"task_space_indicator_name "
                        f"{indicator!r} is not in data_config.input_fields")
