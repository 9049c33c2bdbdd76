"""Optimizers over plain ``tf.Variable``s that update embedding tables sparsely.

Each optimizer is a ``tf.Module``. Its slot variables (Adam moments, Adagrad accumulators,
...) are created eagerly by ``build(variables)``, before any ``tf.function`` is traced, and
kept in a tracked dict keyed by the variable's name (``var.name`` without the ``:0``
suffix), then by slot name; with the ``iterations`` counter they are saved and restored by
``tf.train.Checkpoint(optimizer=opt)``. The variables handed to ``build`` must have unique
names.

``apply_gradients`` may run eagerly or inside a ``tf.function``. A dense gradient updates
its variable with TensorFlow's fused ``ResourceApply*`` op. A ``tf.IndexedSlices`` gradient
(the gradient of ``tf.gather`` / ``tf.nn.embedding_lookup_sparse``) first has the values of
duplicate indices summed, then updates only those rows of the variable and of its slots
with the fused ``ResourceSparseApply*`` op (or, for Adam, with gathers and scatters): no
tensor of the variable's full shape is ever materialised.

Under tf.distribute the slots are created next to their variable (``colocate_vars_with``);
the slots of the shards of a table split over parameter servers are joined into one
``ShardedVariable`` per slot, keyed by the table's name, so a checkpoint holds them whole,
as a single process writes them.

``build_optimizers(train_config)`` returns the (dense, embedding) pair EasyRec trains with;
``OptimizerGroup`` applies such a pair to one list of gradients.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Hashable, Iterable, Sequence
from typing import NamedTuple

import tensorflow as tf
from tensorflow.python.distribute.sharded_variable import ShardedVariable

from easy_rec.protos import optimizer_pb2, train_pb2
from easy_rec.training.optimization import lr_schedules
from easy_rec.training.optimization.lr_schedules import LearningRateFn

Gradient = tf.Tensor | tf.IndexedSlices
GradsAndVars = Iterable[tuple[Gradient | None, tf.Variable]]
Slots = dict[str, tf.Variable]

#: the name of one shard of a table split over parameter servers (ParameterServerStrategy)
_SHARD_KEY = re.compile(r"(.+)/part_(\d+)")


def variable_key(var: tf.Variable) -> str:
    """The key of `var`'s slots: its name without the ``:<output index>`` suffix."""
    name, colon, index = var.name.rpartition(":")
    return name if colon and index.isdigit() else var.name


def _sum_duplicate_rows(grad: tf.IndexedSlices) -> tuple[tf.Tensor, tf.Tensor]:
    """(unique indices, summed values) of a sparse gradient whose indices may repeat."""
    indices, positions = tf.unique(grad.indices)
    values = tf.math.unsorted_segment_sum(grad.values, positions, tf.size(indices))
    return indices, values


def _gather_rows(var: tf.Variable, indices: tf.Tensor) -> tf.Tensor:
    return tf.raw_ops.ResourceGather(resource=var.handle, indices=indices, dtype=var.dtype)


def _sub_rows(var: tf.Variable, indices: tf.Tensor, updates: tf.Tensor) -> None:
    tf.raw_ops.ResourceScatterSub(resource=var.handle, indices=indices, updates=updates)


def _set_rows(var: tf.Variable, indices: tf.Tensor, updates: tf.Tensor) -> None:
    tf.raw_ops.ResourceScatterUpdate(resource=var.handle, indices=indices, updates=updates)


class Optimizer(tf.Module):
    """Base class: slot bookkeeping, learning rate, and the dense/sparse dispatch.

    Subclasses declare their slots in `_slot_initial_values` and implement `_apply_dense`
    and `_apply_sparse`; the sparse one receives unique indices.
    """

    def __init__(self, learning_rate: float | LearningRateFn, name: str | None = None) -> None:
        super().__init__(name=name)
        self._schedule = (
            learning_rate if callable(learning_rate) else lr_schedules.constant(learning_rate)
        )
        self.iterations = tf.Variable(0, dtype=tf.int64, trainable=False, name="iterations")
        self._slot_variables: dict[str, Slots] = {}
        self._built: set[Hashable] = set()  # var.ref() of every built variable
        # shard key -> (table key, shard index); outside checkpoint tracking
        self.__dict__["_shard_of"] = {}
        #: tensors that every variable of one apply_gradients call shares (see `_shared`)
        self._call_values: dict[Hashable, object] = {}

    def learning_rate(self, step: tf.Tensor | None = None) -> tf.Tensor:
        """The float32 learning rate at `step` (default: at `iterations`)."""
        return self._schedule(self.iterations.value() if step is None else step)

    def build(self, variables: Sequence[tf.Variable]) -> None:
        """Creates the slots of `variables` (eagerly); variables already built are skipped.

        Raises ValueError when two variables share a name, and RuntimeError inside a
        tf.function.
        """
        if tf.inside_function():
            raise RuntimeError("Optimizer.build must be called eagerly, outside tf.function")
        new_vars = [var for var in variables if var.ref() not in self._built]
        keys = [variable_key(var) for var in new_vars]
        for key in keys:
            if key in self._slot_variables or keys.count(key) > 1:
                raise ValueError(f"optimizer variables must have unique names; {key!r} repeats")
        created = {key: self._create_slots(var, key) for var, key in zip(new_vars, keys)}
        self._built.update(var.ref() for var in new_vars)
        self._slot_variables.update(self._join_shards(created))

    def _join_shards(self, created: dict[str, Slots]) -> dict[str, Slots | dict]:
        """`created` with the slots of the shards of one table (``<table>/part_<i>``,
        parameter-server training) joined into one ShardedVariable per slot under the
        table's own key, so that checkpoints hold whole slots under the names a single
        process writes."""
        joined: dict[str, Slots | dict] = {}
        parts: dict[str, dict[int, str]] = {}
        for key, slots in created.items():
            match = _SHARD_KEY.fullmatch(key)
            if match:
                parts.setdefault(match.group(1), {})[int(match.group(2))] = key
            else:
                joined[key] = slots
        for table, shards in parts.items():
            ordered = [created[shards[i]] for i in sorted(shards)]
            joined[table] = {name: ShardedVariable([slots[name] for slots in ordered])
                             for name in ordered[0]}
            for i in sorted(shards):
                self._shard_of[shards[i]] = (table, i)
        return joined

    def slots(self, var: tf.Variable) -> Slots:
        """Slot name -> slot variable, for a variable passed to `build`."""
        if var.ref() not in self._built:
            raise ValueError(f"variable {var.name!r} was not passed to Optimizer.build")
        key = variable_key(var)
        if key in self._shard_of:
            table, index = self._shard_of[key]
            return {name: slot.variables[index]
                    for name, slot in self._slot_variables[table].items()}
        return dict(self._slot_variables[key])

    def apply_gradients(self, grads_and_vars: GradsAndVars, step: tf.Tensor | None = None) -> None:
        """Applies one update per (gradient, variable) pair and increments `iterations`.

        `step` only feeds the learning-rate schedule (default: `iterations`). Pairs whose
        gradient is None are skipped.
        """
        learning_rate = self.learning_rate(step)
        self._call_values = {}
        for grad, var in grads_and_vars:
            if grad is None:
                continue
            slots = self.slots(var)
            lr = self._shared(("lr", var.dtype), tf.cast, learning_rate, var.dtype)
            if isinstance(grad, tf.IndexedSlices):
                indices, values = _sum_duplicate_rows(grad)
                self._apply_sparse(var, slots, values, indices, lr)
            else:
                self._apply_dense(var, slots, tf.convert_to_tensor(grad), lr)
        self.iterations.assign_add(1)

    def _shared(self, key: Hashable, make: Callable[..., object], *args: object) -> object:
        """`make(*args)`, computed once per apply_gradients call and reused for every
        variable (hyperparameter casts, step-dependent powers): one op per call instead of
        one per variable."""
        if key not in self._call_values:
            self._call_values[key] = make(*args)
        return self._call_values[key]

    def _create_slots(self, var: tf.Variable, key: str) -> Slots:
        slots = {}
        # on var's device; under a distribution strategy also where it puts var (a shard of a
        # table on its parameter server, a mirrored variable on every replica)
        with tf.device(var.device), tf.distribute.get_strategy().extended.colocate_vars_with(var):
            for slot_name, value in self._slot_initial_values().items():
                initial = tf.fill(var.shape, tf.constant(value, dtype=var.dtype))
                slots[slot_name] = tf.Variable(initial, trainable=False, name=f"{key}/{slot_name}")
        return slots

    def _slot_initial_values(self) -> dict[str, float]:
        """Slot name -> the constant every slot element starts at."""
        return {}

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        raise NotImplementedError

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        raise NotImplementedError


class SGD(Optimizer):
    """Plain gradient descent: ``var -= lr * grad``."""

    def __init__(self, learning_rate: float | LearningRateFn, name: str = "SGD") -> None:
        super().__init__(learning_rate, name=name)

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyGradientDescent(var=var.handle, alpha=lr, delta=grad)

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        _sub_rows(var, indices, lr * values)


class Momentum(Optimizer):
    """TF1 momentum: ``accum = momentum * accum + grad; var -= lr * accum``.

    As in ``tf.train.MomentumOptimizer``, a sparse update leaves the accumulator of the
    rows it does not touch as they are.
    """

    def __init__(
        self, learning_rate: float | LearningRateFn, momentum: float = 0.9, name: str = "Momentum"
    ) -> None:
        super().__init__(learning_rate, name=name)
        self._momentum = momentum

    def _slot_initial_values(self) -> dict[str, float]:
        return {"momentum": 0.0}

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyMomentum(
            var=var.handle,
            accum=slots["momentum"].handle,
            lr=lr,
            grad=grad,
            momentum=tf.cast(self._momentum, var.dtype),
        )

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        tf.raw_ops.ResourceSparseApplyMomentum(
            var=var.handle,
            accum=slots["momentum"].handle,
            lr=lr,
            grad=values,
            indices=indices,
            momentum=tf.cast(self._momentum, var.dtype),
        )


class MomentumW(Momentum):
    """Momentum with decoupled weight decay, as EasyRec's ``MomentumWOptimizer``.

    Before the momentum step the variable decays by ``var -= weight_decay * var`` (not scaled
    by the learning rate, as in ``tf.contrib.opt.MomentumWOptimizer``); a sparse gradient
    decays only the rows it touches.
    """

    def __init__(self, learning_rate: float | LearningRateFn, weight_decay: float = 1e-6,
                 momentum: float = 0.9, name: str = "MomentumW") -> None:
        super().__init__(learning_rate, momentum=momentum, name=name)
        self._weight_decay = weight_decay

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        var.assign_sub(self._weight_decay * var)
        super()._apply_dense(var, slots, grad, lr)

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        _sub_rows(var, indices, self._weight_decay * _gather_rows(var, indices))
        super()._apply_sparse(var, slots, values, indices, lr)


class RMSProp(Optimizer):
    """TF1 RMSProp (``tf.train.RMSPropOptimizer``, not centered)::

        ms = decay * ms + (1 - decay) * grad**2        (ms starts at 1, as in TF1)
        mom = momentum * mom + lr * grad / sqrt(ms + epsilon)
        var -= mom

    A sparse update leaves the slots of the rows it does not touch as they are.
    """

    def __init__(self, learning_rate: float | LearningRateFn, decay: float = 0.9,
                 momentum: float = 0.9, epsilon: float = 1.0, name: str = "RMSProp") -> None:
        super().__init__(learning_rate, name=name)
        self._decay = decay
        self._momentum = momentum
        self._epsilon = epsilon

    def _slot_initial_values(self) -> dict[str, float]:
        return {"rms": 1.0, "momentum": 0.0}

    def _op_arguments(self, var: tf.Variable, slots: Slots, lr: tf.Tensor) -> dict[str, tf.Tensor]:
        return {
            "var": var.handle,
            "ms": slots["rms"].handle,
            "mom": slots["momentum"].handle,
            "lr": lr,
            "rho": tf.cast(self._decay, var.dtype),
            "momentum": tf.cast(self._momentum, var.dtype),
            "epsilon": tf.cast(self._epsilon, var.dtype),
        }

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyRMSProp(grad=grad, **self._op_arguments(var, slots, lr))

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        tf.raw_ops.ResourceSparseApplyRMSProp(grad=values, indices=indices,
                                             **self._op_arguments(var, slots, lr))


class Adagrad(Optimizer):
    """TF1 Adagrad (no epsilon): ``accum += grad**2; var -= lr * grad / sqrt(accum)``."""

    def __init__(
        self,
        learning_rate: float | LearningRateFn,
        initial_accumulator_value: float = 0.1,
        name: str = "Adagrad",
    ) -> None:
        if initial_accumulator_value <= 0.0:
            raise ValueError("Adagrad's initial_accumulator_value must be positive")
        super().__init__(learning_rate, name=name)
        self._initial_accumulator_value = initial_accumulator_value

    def _slot_initial_values(self) -> dict[str, float]:
        return {"accumulator": self._initial_accumulator_value}

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyAdagrad(
            var=var.handle, accum=slots["accumulator"].handle, lr=lr, grad=grad
        )

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        tf.raw_ops.ResourceSparseApplyAdagrad(
            var=var.handle, accum=slots["accumulator"].handle, lr=lr, grad=values, indices=indices
        )


class Ftrl(Optimizer):
    """FTRL-proximal with L1, L2 and L2-shrinkage regularisation (``tf.train.FtrlOptimizer``)."""

    def __init__(
        self,
        learning_rate: float | LearningRateFn,
        learning_rate_power: float = -0.5,
        initial_accumulator_value: float = 0.1,
        l1: float = 0.0,
        l2: float = 0.0,
        l2_shrinkage: float = 0.0,
        name: str = "Ftrl",
    ) -> None:
        if learning_rate_power > 0.0:
            raise ValueError("FTRL's learning_rate_power must be at most 0")
        if min(initial_accumulator_value, l1, l2, l2_shrinkage) < 0.0:
            raise ValueError("FTRL's accumulator and regularisation strengths must be >= 0")
        super().__init__(learning_rate, name=name)
        self._learning_rate_power = learning_rate_power
        self._initial_accumulator_value = initial_accumulator_value
        self._l1 = l1
        self._l2 = l2
        self._l2_shrinkage = l2_shrinkage

    def _slot_initial_values(self) -> dict[str, float]:
        return {"accumulator": self._initial_accumulator_value, "linear": 0.0}

    def _op_arguments(self, var: tf.Variable, slots: Slots, lr: tf.Tensor) -> dict[str, tf.Tensor]:
        """The arguments the dense and the sparse FTRL ops share."""
        return {
            "var": var.handle,
            "accum": slots["accumulator"].handle,
            "linear": slots["linear"].handle,
            "lr": lr,
            "l1": tf.cast(self._l1, var.dtype),
            "l2": tf.cast(self._l2, var.dtype),
            "l2_shrinkage": tf.cast(self._l2_shrinkage, var.dtype),
            "lr_power": tf.cast(self._learning_rate_power, var.dtype),
        }

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        tf.raw_ops.ResourceApplyFtrlV2(grad=grad, **self._op_arguments(var, slots, lr))

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        tf.raw_ops.ResourceSparseApplyFtrlV2(
            grad=values, indices=indices, **self._op_arguments(var, slots, lr)
        )


class _AdamConstants(NamedTuple):
    """Adam's hyperparameters as tensors of the variable's dtype, for one step."""

    beta1: tf.Tensor
    beta2: tf.Tensor
    epsilon: tf.Tensor
    beta1_power: tf.Tensor
    beta2_power: tf.Tensor


class Adam(Optimizer):
    """Adam (TF1 form, bias correction folded into the step size).

    A sparse gradient gets the *lazy* update: only the touched rows of ``m``, ``v`` and the
    variable move, with the same bias-corrected step size as the dense update (the step
    count is `iterations` + 1, shared by all variables).
    """

    def __init__(
        self,
        learning_rate: float | LearningRateFn,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        name: str = "Adam",
    ) -> None:
        super().__init__(learning_rate, name=name)
        self._beta1 = beta1
        self._beta2 = beta2
        self._epsilon = epsilon

    def _slot_initial_values(self) -> dict[str, float]:
        return {"m": 0.0, "v": 0.0}

    def _constants(self, dtype: tf.DType) -> _AdamConstants:
        """The hyperparameters in `dtype`, with the powers for step t = iterations + 1 (once
        per apply_gradients call).

        The sparse update does its arithmetic on these, as the fused dense op does, so that
        e.g. ``1 - beta2`` is rounded the same way in both.
        """
        return self._shared(("adam", dtype), self._make_constants, dtype)

    def _make_constants(self, dtype: tf.DType) -> _AdamConstants:
        beta1, beta2 = tf.cast(self._beta1, dtype), tf.cast(self._beta2, dtype)
        t = tf.cast(self.iterations + 1, dtype)
        return _AdamConstants(
            beta1, beta2, tf.cast(self._epsilon, dtype), tf.pow(beta1, t), tf.pow(beta2, t)
        )

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        c = self._constants(var.dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=var.handle,
            m=slots["m"].handle,
            v=slots["v"].handle,
            beta1_power=c.beta1_power,
            beta2_power=c.beta2_power,
            lr=lr,
            beta1=c.beta1,
            beta2=c.beta2,
            epsilon=c.epsilon,
            grad=grad,
        )

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        c = self._constants(var.dtype)
        m_rows = _gather_rows(slots["m"], indices)
        v_rows = _gather_rows(slots["v"], indices)
        m_rows += (values - m_rows) * (1 - c.beta1)
        v_rows += (tf.square(values) - v_rows) * (1 - c.beta2)
        _set_rows(slots["m"], indices, m_rows)
        _set_rows(slots["v"], indices, v_rows)
        step_size = self._shared(("adam_step_size", var.dtype),
                                 lambda: lr * tf.sqrt(1 - c.beta2_power) / (1 - c.beta1_power))
        _sub_rows(var, indices, m_rows * step_size / (tf.sqrt(v_rows) + c.epsilon))


class AdamW(Adam):
    """Adam with decoupled weight decay, as EasyRec's ``AdamWOptimizer``.

    Before the Adam step the variable decays by ``var -= weight_decay * var`` (not scaled
    by the learning rate, as in ``tf.contrib.opt.AdamWOptimizer``); a sparse gradient
    decays only the rows it touches.
    """

    def __init__(
        self,
        learning_rate: float | LearningRateFn,
        weight_decay: float = 1e-6,
        beta1: float = 0.9,
        beta2: float = 0.999,
        epsilon: float = 1e-8,
        name: str = "AdamW",
    ) -> None:
        super().__init__(learning_rate, beta1=beta1, beta2=beta2, epsilon=epsilon, name=name)
        self._weight_decay = weight_decay

    def _apply_dense(self, var: tf.Variable, slots: Slots, grad: tf.Tensor, lr: tf.Tensor) -> None:
        var.assign_sub(self._weight_decay * var)
        super()._apply_dense(var, slots, grad, lr)

    def _apply_sparse(
        self, var: tf.Variable, slots: Slots, values: tf.Tensor, indices: tf.Tensor, lr: tf.Tensor
    ) -> None:
        _sub_rows(var, indices, self._weight_decay * _gather_rows(var, indices))
        super()._apply_sparse(var, slots, values, indices, lr)


def _build_sgd(config: optimizer_pb2.SgdOptimizer, lr: LearningRateFn) -> Optimizer:
    return SGD(lr)


def _build_momentum(config: optimizer_pb2.MomentumOptimizer, lr: LearningRateFn) -> Optimizer:
    return Momentum(lr, momentum=config.momentum_optimizer_value)


def _build_momentumw(config: optimizer_pb2.MomentumWOptimizer, lr: LearningRateFn) -> Optimizer:
    return MomentumW(lr, weight_decay=config.weight_decay,
                     momentum=config.momentum_optimizer_value)


def _build_rms_prop(config: optimizer_pb2.RMSPropOptimizer, lr: LearningRateFn) -> Optimizer:
    return RMSProp(lr, decay=config.decay, momentum=config.momentum_optimizer_value,
                   epsilon=config.epsilon)


def _build_adagrad(config: optimizer_pb2.AdagradOptimizer, lr: LearningRateFn) -> Optimizer:
    return Adagrad(lr, initial_accumulator_value=config.initial_accumulator_value)


def _build_ftrl(config: optimizer_pb2.FtrlOptimizer, lr: LearningRateFn) -> Optimizer:
    return Ftrl(
        lr,
        learning_rate_power=config.learning_rate_power,
        initial_accumulator_value=config.initial_accumulator_value,
        l1=config.l1_reg,
        l2=config.l2_reg,
        l2_shrinkage=config.l2_shrinkage_reg,
    )


def _build_adam(config: optimizer_pb2.AdamOptimizer, lr: LearningRateFn) -> Optimizer:
    return Adam(lr, beta1=config.beta1, beta2=config.beta2, epsilon=config.epsilon)


def _build_lazy_adam(config: optimizer_pb2.LazyAdamOptimizer, lr: LearningRateFn) -> Optimizer:
    return Adam(lr, beta1=config.beta1, beta2=config.beta2, name="LazyAdam")


def _build_adamw(config: optimizer_pb2.AdamWOptimizer, lr: LearningRateFn) -> Optimizer:
    return AdamW(lr, weight_decay=config.weight_decay, beta1=config.beta1, beta2=config.beta2)


_BUILDERS: dict[str, Callable[..., Optimizer]] = {
    "sgd_optimizer": _build_sgd,
    "momentum_optimizer": _build_momentum,
    "momentumw_optimizer": _build_momentumw,
    "rms_prop_optimizer": _build_rms_prop,
    "adagrad_optimizer": _build_adagrad,
    "ftrl_optimizer": _build_ftrl,
    "adam_optimizer": _build_adam,
    "lazy_adam_optimizer": _build_lazy_adam,
    "adamw_optimizer": _build_adamw,
}


def build_optimizer(
    optimizer_config: optimizer_pb2.Optimizer, lr_multiplier: float = 1.0
) -> Optimizer:
    """The optimizer an Optimizer proto describes, its learning rate times `lr_multiplier`.

    ``lazy_adam_optimizer`` builds an `Adam`, whose sparse updates are lazy anyway.
    Raises ValueError for an unset optimizer or learning rate. (``use_moving_average`` is
    the trainer's: moving_average.py.)
    """
    kind = optimizer_config.WhichOneof("optimizer")
    if kind is None:
        raise ValueError("Optimizer config sets no optimizer")
    config = getattr(optimizer_config, kind)
    schedule = lr_schedules.build_learning_rate(config.learning_rate)
    return _BUILDERS[kind](config, lr_schedules.scale(schedule, lr_multiplier))


def build_optimizers(train_config: train_pb2.TrainConfig) -> tuple[Optimizer, Optimizer]:
    """(dense optimizer, embedding optimizer) for a TrainConfig, in EasyRec's order.

    With two ``optimizer_config`` blocks the first trains the embedding variables (which
    ones: ``RankModel.first_optimizer_variables``) and the second every other variable, as
    EasyRec's ``get_grouped_vars`` ("the orders could not be changed", its
    ``wide_and_deep_two_opti.config``). With one block both are built from it, the embedding
    one as a separate instance with its own slots. Either way, when ``optimizer_config[0]``
    sets ``embedding_learning_rate_multiplier`` the embedding optimizer's learning rate is
    multiplied by it (EasyRec scales the embedding gradients by it instead, which differs
    for the adaptive optimizers).
    """
    configs = train_config.optimizer_config
    if not 1 <= len(configs) <= 2:
        raise ValueError(f"train_config needs 1 or 2 optimizer_config blocks, got {len(configs)}")
    multiplier = (
        configs[0].embedding_learning_rate_multiplier
        if configs[0].HasField("embedding_learning_rate_multiplier")
        else 1.0
    )
    return build_optimizer(configs[-1]), build_optimizer(configs[0], lr_multiplier=multiplier)


class OptimizerGroup(tf.Module):
    """A dense and an embedding optimizer applied together; `is_embedding` routes variables.

    Both optimizers are applied (and their `iterations` incremented) on every call, even
    when one of them receives no gradient, so their step counts stay equal.
    """

    def __init__(
        self,
        dense_optimizer: Optimizer,
        embedding_optimizer: Optimizer,
        is_embedding: Callable[[tf.Variable], bool],
    ) -> None:
        super().__init__(name="OptimizerGroup")
        self.dense_optimizer = dense_optimizer
        self.embedding_optimizer = embedding_optimizer
        self._is_embedding = is_embedding

    def build(self, variables: Sequence[tf.Variable]) -> None:
        """Builds each optimizer's slots for its share of `variables`."""
        embedding = [var for var in variables if self._is_embedding(var)]
        dense = [var for var in variables if not self._is_embedding(var)]
        self.dense_optimizer.build(dense)
        self.embedding_optimizer.build(embedding)

    def apply_gradients(self, grads_and_vars: GradsAndVars, step: tf.Tensor | None = None) -> None:
        """Hands each pair to the optimizer its variable belongs to."""
        pairs = list(grads_and_vars)
        embedding = [(grad, var) for grad, var in pairs if self._is_embedding(var)]
        dense = [(grad, var) for grad, var in pairs if not self._is_embedding(var)]
        self.dense_optimizer.apply_gradients(dense, step=step)
        self.embedding_optimizer.apply_gradients(embedding, step=step)


def clip_by_global_norm(
    grads: Sequence[Gradient | None], clip_norm: float
) -> list[Gradient | None]:
    """`grads` rescaled so that their global norm is at most `clip_norm` (<= 0: unchanged).

    Wraps ``tf.clip_by_global_norm``: None entries stay None and ``tf.IndexedSlices`` stay
    sparse. As in TF1/EasyRec, the norm of a sparse gradient is taken over its values, so
    repeated indices count separately.
    """
    if clip_norm <= 0.0:
        return list(grads)
    clipped, _ = tf.clip_by_global_norm(grads, clip_norm)
    return list(clipped)
