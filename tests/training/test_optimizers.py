"""Tests of easy_rec.training.optimization (optimizers and lr_schedules)."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.protos import optimizer_pb2, train_pb2
from easy_rec.training.optimization import lr_schedules
from easy_rec.training.optimization import optimizers as opt_lib

ROWS, DIM = 1000, 8
TOUCHED = [3, 7]
GRAD_INDICES = [3, 7, 3]  # row 3 repeats

OptimizerFactory = Callable[[], opt_lib.Optimizer]

# Optimizers whose sparse update is the dense op restricted to the touched rows.
FUSED_FACTORIES: dict[str, OptimizerFactory] = {
    "sgd": lambda: opt_lib.SGD(0.1),
    "momentum": lambda: opt_lib.Momentum(0.1, momentum=0.9),
    "momentumw": lambda: opt_lib.MomentumW(0.1, weight_decay=0.01, momentum=0.9),
    "rmsprop": lambda: opt_lib.RMSProp(0.1, decay=0.8, momentum=0.5, epsilon=1.0),
    "adagrad": lambda: opt_lib.Adagrad(0.1, initial_accumulator_value=0.1),
    "ftrl": lambda: opt_lib.Ftrl(
        0.1,
        learning_rate_power=-0.5,
        initial_accumulator_value=0.1,
        l1=0.01,
        l2=0.02,
        l2_shrinkage=0.03,
    ),
}
# Optimizers whose sparse update is lazy Adam.
ADAM_FACTORIES: dict[str, OptimizerFactory] = {
    "adam": lambda: opt_lib.Adam(0.1),
    "adamw": lambda: opt_lib.AdamW(0.1, weight_decay=0.01),
}
ALL_FACTORIES = {**FUSED_FACTORIES, **ADAM_FACTORIES}


def _initial_table(rows: int = ROWS) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(rows, DIM)).astype(np.float32)


def _sparse_grad(step: int) -> tf.IndexedSlices:
    values = np.random.default_rng(step + 1).normal(size=(len(GRAD_INDICES), DIM))
    return tf.IndexedSlices(
        tf.constant(values, tf.float32), tf.constant(GRAD_INDICES), tf.constant([ROWS, DIM])
    )


def _built(factory: OptimizerFactory, initial: np.ndarray) -> tuple[opt_lib.Optimizer, tf.Variable]:
    var = tf.Variable(initial, name="table")
    optimizer = factory()
    optimizer.build([var])
    return optimizer, var


def _slot_values(optimizer: opt_lib.Optimizer, var: tf.Variable) -> dict[str, np.ndarray]:
    return {name: slot.numpy() for name, slot in optimizer.slots(var).items()}


def _assert_untouched(before: np.ndarray, after: np.ndarray) -> None:
    untouched = np.setdiff1d(np.arange(before.shape[0]), TOUCHED)
    np.testing.assert_array_equal(after[untouched], before[untouched])


@pytest.mark.parametrize("name", sorted(FUSED_FACTORIES))
def test_sparse_update_equals_dense_op_on_touched_rows(name: str) -> None:
    factory = FUSED_FACTORIES[name]
    initial = _initial_table()
    sparse_opt, sparse_var = _built(factory, initial)
    dense_opt, dense_var = _built(factory, initial)
    initial_slots = _slot_values(sparse_opt, sparse_var)
    for step in range(3):
        grad = _sparse_grad(step)
        sparse_opt.apply_gradients([(grad, sparse_var)])
        dense_opt.apply_gradients([(tf.convert_to_tensor(grad), dense_var)])
        np.testing.assert_allclose(
            sparse_var.numpy()[TOUCHED], dense_var.numpy()[TOUCHED], rtol=1e-6, atol=1e-7
        )
    _assert_untouched(initial, sparse_var.numpy())
    for slot_name, values in _slot_values(sparse_opt, sparse_var).items():
        _assert_untouched(initial_slots[slot_name], values)
        dense_slot = dense_opt.slots(dense_var)[slot_name].numpy()
        np.testing.assert_allclose(values[TOUCHED], dense_slot[TOUCHED], rtol=1e-6, atol=1e-7)


@pytest.mark.parametrize("name", sorted(ADAM_FACTORIES))
def test_lazy_adam_equals_dense_adam_on_touched_rows(name: str) -> None:
    factory = ADAM_FACTORIES[name]
    initial = _initial_table()
    sparse_opt, sparse_var = _built(factory, initial)
    rows_opt, rows_var = _built(factory, initial[TOUCHED])  # dense Adam on the touched rows only
    for step in range(3):
        grad = _sparse_grad(step)
        sparse_opt.apply_gradients([(grad, sparse_var)])
        rows_grad = tf.gather(tf.convert_to_tensor(grad), TOUCHED)
        rows_opt.apply_gradients([(rows_grad, rows_var)])
    np.testing.assert_allclose(sparse_var.numpy()[TOUCHED], rows_var.numpy(), rtol=1e-6)
    _assert_untouched(initial, sparse_var.numpy())
    for slot_name, values in _slot_values(sparse_opt, sparse_var).items():
        _assert_untouched(np.zeros_like(initial), values)
        rows_slot = rows_opt.slots(rows_var)[slot_name].numpy()
        np.testing.assert_allclose(values[TOUCHED], rows_slot, rtol=1e-6)


def test_rmsprop_step_by_hand() -> None:
    """TF1 RMSProp: ms starts at 1, decay weighs the old ms, momentum the old update."""
    optimizer, var = _built(lambda: opt_lib.RMSProp(0.1, decay=0.8, momentum=0.5, epsilon=1.0),
                            np.ones((1, 1), np.float32))
    optimizer.apply_gradients([(tf.constant([[2.0]]), var)])
    ms = 0.8 * 1.0 + 0.2 * 4.0
    np.testing.assert_allclose(var.numpy(), 1.0 - 0.1 * 2.0 / math.sqrt(ms + 1.0), rtol=1e-6)
    np.testing.assert_allclose(optimizer.slots(var)["rms"].numpy(), ms, rtol=1e-6)


def test_momentumw_decays_before_the_momentum_step() -> None:
    optimizer, var = _built(lambda: opt_lib.MomentumW(0.1, weight_decay=0.1, momentum=0.9),
                            np.ones((1, 1), np.float32))
    optimizer.apply_gradients([(tf.constant([[1.0]]), var)])
    np.testing.assert_allclose(var.numpy(), 1.0 - 0.1 * 1.0 - 0.1 * 1.0, rtol=1e-6)


def test_lazy_adam_uses_the_global_step_for_bias_correction() -> None:
    """A row first touched at step 2 gets the step-2 bias correction, like TF's LazyAdam."""
    optimizer, var = _built(lambda: opt_lib.Adam(0.1), np.zeros((4, 1), np.float32))
    other = tf.IndexedSlices(tf.ones([1, 1]), tf.constant([0]), tf.constant([4, 1]))
    optimizer.apply_gradients([(other, var)])
    grad = tf.IndexedSlices(tf.ones([1, 1]), tf.constant([1]), tf.constant([4, 1]))
    optimizer.apply_gradients([(grad, var)])
    m, v = 0.1, 0.001  # one update of moments starting at 0 with grad 1
    step_size = 0.1 * math.sqrt(1 - 0.999**2) / (1 - 0.9**2)
    np.testing.assert_allclose(var.numpy()[1, 0], -step_size * m / (math.sqrt(v) + 1e-8), rtol=1e-5)


def _logistic_problem() -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
    rng = np.random.default_rng(7)
    ids = rng.integers(0, 50, size=(256, 3))
    features = rng.normal(size=(256, 4)).astype(np.float32)
    labels = (features[:, 0] + (ids[:, 0] % 2) > 0.5).astype(np.float32)
    return tf.constant(ids), tf.constant(features), tf.constant(labels)


@pytest.mark.parametrize("name", sorted(ALL_FACTORIES))
def test_training_reduces_a_logistic_loss(name: str) -> None:
    ids, features, labels = _logistic_problem()
    table = tf.Variable(tf.zeros([50, 4]), name="embedding")
    kernel = tf.Variable(tf.zeros([4, 1]), name="kernel")
    optimizer = ALL_FACTORIES[name]()
    optimizer.build([table, kernel])

    def loss_fn() -> tf.Tensor:
        embedded = tf.reduce_sum(tf.gather(table, ids), axis=1)
        logits = tf.squeeze(tf.matmul(embedded + features, kernel), axis=1)
        return tf.reduce_mean(tf.nn.sigmoid_cross_entropy_with_logits(labels, logits))

    @tf.function
    def train_step() -> tf.Tensor:
        with tf.GradientTape() as tape:
            loss = loss_fn()
        grads = tape.gradient(loss, [table, kernel])
        assert isinstance(grads[0], tf.IndexedSlices)
        optimizer.apply_gradients(zip(grads, [table, kernel]))
        return loss

    initial_loss = float(loss_fn())
    for _ in range(100):
        train_step()
    assert float(loss_fn()) < 0.8 * initial_loss


@pytest.mark.parametrize("name", sorted(ALL_FACTORIES))
def test_apply_in_tf_function_traces_once_and_creates_no_variable(name: str) -> None:
    optimizer, var = _built(ALL_FACTORIES[name], _initial_table())
    dense_var = tf.Variable(tf.ones([3, 2]), name="dense")
    optimizer.build([dense_var])
    num_variables = len(optimizer.variables)

    @tf.function
    def apply(values: tf.Tensor, indices: tf.Tensor) -> None:
        grad = tf.IndexedSlices(values, indices, tf.constant([ROWS, DIM]))
        optimizer.apply_gradients([(grad, var), (tf.ones([3, 2]), dense_var), (None, var)])

    for step in range(2):
        grad = _sparse_grad(step)
        apply(grad.values, grad.indices)
    assert apply.experimental_get_tracing_count() == 1
    assert len(optimizer.variables) == num_variables
    assert int(optimizer.iterations) == 2


def test_apply_to_an_unbuilt_variable_fails() -> None:
    optimizer = opt_lib.Adam(0.1)
    var = tf.Variable(tf.ones([2]), name="w")
    with pytest.raises(ValueError, match="build"):
        optimizer.apply_gradients([(tf.ones([2]), var)])


def test_build_inside_tf_function_fails() -> None:
    optimizer = opt_lib.Adam(0.1)
    var = tf.Variable(tf.ones([2]), name="w")

    @tf.function
    def build() -> None:
        optimizer.build([var])

    with pytest.raises(RuntimeError, match="eagerly"):
        build()


def test_build_requires_unique_names() -> None:
    optimizer = opt_lib.Adam(0.1)
    first, second = tf.Variable(1.0, name="w"), tf.Variable(2.0, name="w")
    with pytest.raises(ValueError, match="unique"):
        optimizer.build([first, second])
    optimizer.build([first])
    optimizer.build([first])  # building again is a no-op
    with pytest.raises(ValueError, match="unique"):
        optimizer.build([second])


def test_slots_are_keyed_by_variable_name() -> None:
    optimizer, var = _built(lambda: opt_lib.Ftrl(0.1), _initial_table(4))
    assert opt_lib.variable_key(var) == "table"
    assert sorted(optimizer.slots(var)) == ["accumulator", "linear"]
    np.testing.assert_array_equal(optimizer.slots(var)["accumulator"].numpy(), np.float32(0.1))


@pytest.mark.parametrize("restore_before_build", [False, True])
@pytest.mark.parametrize("name", ["adam", "ftrl", "momentum"])
def test_checkpoint_round_trip(name: str, restore_before_build: bool, tmp_path) -> None:
    factory = ALL_FACTORIES[name]
    optimizer, var = _built(factory, _initial_table())
    for step in range(3):
        optimizer.apply_gradients([(_sparse_grad(step), var)])
    path = tf.train.Checkpoint(optimizer=optimizer, table=var).save(str(tmp_path / "ckpt"))

    restored_var = tf.Variable(tf.zeros([ROWS, DIM]), name="table")
    restored = factory()
    checkpoint = tf.train.Checkpoint(optimizer=restored, table=restored_var)
    if restore_before_build:
        status = checkpoint.restore(path)
        restored.build([restored_var])
    else:
        restored.build([restored_var])
        status = checkpoint.restore(path)
    status.assert_consumed()
    assert int(restored.iterations) == 3
    for slot_name, values in _slot_values(optimizer, var).items():
        np.testing.assert_array_equal(restored.slots(restored_var)[slot_name].numpy(), values)
    np.testing.assert_array_equal(restored_var.numpy(), var.numpy())


@pytest.mark.parametrize("name", sorted(ALL_FACTORIES))
def test_sparse_path_never_materialises_the_table(name: str) -> None:
    optimizer, var = _built(ALL_FACTORIES[name], _initial_table())

    @tf.function(
        input_signature=[
            tf.TensorSpec([None, DIM], tf.float32),
            tf.TensorSpec([None], tf.int32),
        ]
    )
    def apply(values: tf.Tensor, indices: tf.Tensor) -> None:
        optimizer.apply_gradients([(tf.IndexedSlices(values, indices), var)])

    graph = apply.get_concrete_function().graph
    table_shaped = [
        (op.type, op.name)
        for op in graph.get_operations()
        for output in op.outputs
        if output.dtype != tf.resource and output.shape.as_list() == [ROWS, DIM]
    ]
    assert not table_shaped, f"sparse apply materialises the table: {table_shaped}"


def _lr_config(text: str) -> optimizer_pb2.LearningRate:
    return text_format.Parse(text, optimizer_pb2.LearningRate())


def _rates_at(config_text: str, steps: list[int]) -> list[float]:
    schedule = lr_schedules.build_learning_rate(_lr_config(config_text))
    step_var = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def rate() -> tf.Tensor:
        return schedule(step_var)

    rates = []
    for step in steps:
        step_var.assign(step)
        value = rate()
        assert value.dtype == tf.float32
        rates.append(float(value))
    return rates


LR_CASES = {
    "constant": (
        "constant_learning_rate { learning_rate: 0.01 }",
        [0, 100, 10**9],
        [0.01, 0.01, 0.01],
    ),
    "exponential_staircase": (
        (
            "exponential_decay_learning_rate { initial_learning_rate: 0.1 decay_steps: 10"
            " decay_factor: 0.5 staircase: true }"
        ),
        [0, 9, 10, 25, 1000],
        [0.1, 0.1, 0.05, 0.025, 0.1 * 0.5**100],
    ),
    "exponential_smooth_with_floor": (
        (
            "exponential_decay_learning_rate { initial_learning_rate: 0.1 decay_steps: 10"
            " decay_factor: 0.5 staircase: false min_learning_rate: 0.01 }"
        ),
        [0, 5, 20, 100],
        [0.1, 0.1 * 0.5**0.5, 0.025, 0.01],
    ),
    "exponential_burnin": (
        (
            "exponential_decay_learning_rate { initial_learning_rate: 0.1 decay_steps: 10"
            " decay_factor: 0.5 burnin_learning_rate: 0.02 burnin_steps: 4 }"
        ),
        [0, 2, 4, 13, 14],
        [0.02, 0.06, 0.1, 0.1, 0.05],
    ),
    "manual_step": (
        (
            "manual_step_learning_rate { initial_learning_rate: 0.1"
            " schedule { step: 10 learning_rate: 0.05 } schedule { step: 20 learning_rate: 0.01 } }"
        ),
        [0, 9, 10, 19, 20, 500],
        [0.1, 0.1, 0.05, 0.05, 0.01, 0.01],
    ),
    "manual_step_warmup": (
        (
            "manual_step_learning_rate { initial_learning_rate: 0.0 warmup: true"
            " schedule { step: 10 learning_rate: 0.1 } schedule { step: 20 learning_rate: 0.01 } }"
        ),
        [0, 5, 9, 10, 20],
        [0.0, 0.05, 0.09, 0.1, 0.01],
    ),
    "cosine": (
        (
            "cosine_decay_learning_rate { learning_rate_base: 1.0 total_steps: 110"
            " warmup_learning_rate: 0.1 warmup_steps: 10 hold_base_rate_steps: 0 }"
        ),
        [0, 5, 10, 60, 110, 111],
        [0.1, 0.55, 1.0, 0.5, 0.0, 0.0],
    ),
    "cosine_hold": (
        (
            "cosine_decay_learning_rate { learning_rate_base: 1.0 total_steps: 130"
            " warmup_learning_rate: 0.0 warmup_steps: 10 hold_base_rate_steps: 20 }"
        ),
        [5, 10, 30, 55, 80, 130],
        [0.5, 1.0, 1.0, 0.5 * (1 + math.cos(math.pi / 4)), 0.5, 0.0],
    ),
    "transformer": (
        (
            "transformer_learning_rate { learning_rate_base: 1.0 hidden_size: 4 warmup_steps: 4 }"
        ),
        [0, 3, 15],
        [0.5 * 4**-1.5, 0.5 * 4 * 4**-1.5, 0.5 * 16**-0.5],
    ),
    "transformer_scaled": (
        (
            "transformer_learning_rate { learning_rate_base: 2.0 hidden_size: 16"
            " warmup_steps: 4 step_scaling_rate: 0.5 }"
        ),
        [0, 6, 30],
        [0.5 * 2**-1.5, 0.5 * 0.5, 0.5 * 16**-0.5],
    ),
    "poly": (
        (
            "poly_decay_learning_rate { learning_rate_base: 0.1 total_steps: 100 power: 2.0"
            " end_learning_rate: 0.01 }"
        ),
        [0, 50, 100, 200],
        [0.1, 0.09 * 0.25 + 0.01, 0.01, 0.01],
    ),
}


@pytest.mark.parametrize("case", sorted(LR_CASES))
def test_learning_rate_schedules(case: str) -> None:
    config_text, steps, expected = LR_CASES[case]
    np.testing.assert_allclose(_rates_at(config_text, steps), expected, rtol=1e-6, atol=1e-9)


def test_unset_learning_rate_is_rejected() -> None:
    with pytest.raises(ValueError):
        lr_schedules.build_learning_rate(optimizer_pb2.LearningRate())


@pytest.mark.parametrize(
    "bad_text",
    [
        "manual_step_learning_rate { initial_learning_rate: 0.1 }",
        "manual_step_learning_rate { schedule { step: 0 learning_rate: 0.1 } }",
        "manual_step_learning_rate { schedule { step: 5 } schedule { step: 5 } }",
        "cosine_decay_learning_rate { total_steps: 5 warmup_steps: 10 }",
        "exponential_decay_learning_rate { decay_steps: 0 }",
    ],
)
def test_invalid_schedules_are_rejected(bad_text: str) -> None:
    with pytest.raises(ValueError):
        lr_schedules.build_learning_rate(_lr_config(bad_text))


def test_step_argument_drives_the_schedule() -> None:
    schedule = lr_schedules.manual_stepping(1.0, [5], [0.5])
    optimizer, var = _built(lambda: opt_lib.SGD(schedule), np.zeros((2, DIM), np.float32))
    optimizer.apply_gradients([(tf.ones([2, DIM]), var)], step=tf.constant(7, tf.int64))
    np.testing.assert_allclose(var.numpy(), -0.5)
    assert float(optimizer.learning_rate()) == 1.0  # iterations is 1, before the boundary


def _optimizer_config(text: str) -> optimizer_pb2.Optimizer:
    return text_format.Parse(text, optimizer_pb2.Optimizer())


CONSTANT_LR = "learning_rate { constant_learning_rate { learning_rate: 0.5 } }"


@pytest.mark.parametrize(
    "kind, expected_class",
    [
        ("sgd_optimizer", opt_lib.SGD),
        ("momentum_optimizer", opt_lib.Momentum),
        ("momentumw_optimizer", opt_lib.MomentumW),
        ("rms_prop_optimizer", opt_lib.RMSProp),
        ("adagrad_optimizer", opt_lib.Adagrad),
        ("ftrl_optimizer", opt_lib.Ftrl),
        ("adam_optimizer", opt_lib.Adam),
        ("lazy_adam_optimizer", opt_lib.Adam),
        ("adamw_optimizer", opt_lib.AdamW),
    ],
)
def test_build_optimizer_from_config(kind: str, expected_class: type) -> None:
    optimizer = opt_lib.build_optimizer(_optimizer_config(f"{kind} {{ {CONSTANT_LR} }}"))
    assert type(optimizer) is expected_class
    assert float(optimizer.learning_rate()) == 0.5
    scaled = opt_lib.build_optimizer(_optimizer_config(f"{kind} {{ {CONSTANT_LR} }}"), 0.1)
    assert float(scaled.learning_rate()) == pytest.approx(0.05)


@pytest.mark.parametrize(
    "bad_text",
    [
        "",
        "adam_optimizer { }",
    ],
)
def test_build_optimizer_rejects_incomplete_configs(bad_text: str) -> None:
    with pytest.raises(ValueError):
        opt_lib.build_optimizer(_optimizer_config(bad_text))


def test_build_optimizers_with_one_config_scales_the_embedding_learning_rate() -> None:
    train_config = text_format.Parse(
        f"optimizer_config {{ adam_optimizer {{ {CONSTANT_LR} }}"
        " embedding_learning_rate_multiplier: 4.0 }",
        train_pb2.TrainConfig(),
    )
    dense, embedding = opt_lib.build_optimizers(train_config)
    assert dense is not embedding
    assert type(dense) is type(embedding) is opt_lib.Adam
    assert float(dense.learning_rate()) == 0.5
    assert float(embedding.learning_rate()) == 2.0


def test_build_optimizers_with_two_configs() -> None:
    train_config = text_format.Parse(
        f"optimizer_config {{ adagrad_optimizer {{ {CONSTANT_LR} }} }}"
        f" optimizer_config {{ adam_optimizer {{ {CONSTANT_LR} }} }}",
        train_pb2.TrainConfig(),
    )
    # EasyRec's order: the first block trains the embeddings, the second the rest
    dense, embedding = opt_lib.build_optimizers(train_config)
    assert type(dense) is opt_lib.Adam
    assert type(embedding) is opt_lib.Adagrad
    assert float(embedding.learning_rate()) == 0.5
    with pytest.raises(ValueError):
        opt_lib.build_optimizers(train_pb2.TrainConfig())


def test_optimizer_group_routes_variables() -> None:
    table = tf.Variable(tf.zeros([10, 2]), name="emb/table")
    kernel = tf.Variable(tf.zeros([2]), name="dense/kernel")
    group = opt_lib.OptimizerGroup(
        opt_lib.SGD(1.0), opt_lib.Adagrad(1.0), lambda var: var.name.startswith("emb/")
    )
    group.build([table, kernel])
    assert group.embedding_optimizer.slots(table)
    with pytest.raises(ValueError):
        group.dense_optimizer.slots(table)
    grad = tf.IndexedSlices(tf.ones([1, 2]), tf.constant([4]), tf.constant([10, 2]))
    tf.function(group.apply_gradients)([(grad, table), (tf.ones([2]), kernel)])
    np.testing.assert_allclose(kernel.numpy(), [-1.0, -1.0])
    np.testing.assert_allclose(table.numpy()[4], -1.0 / math.sqrt(1.1), rtol=1e-6)
    assert int(group.dense_optimizer.iterations) == int(group.embedding_optimizer.iterations) == 1


def test_clip_by_global_norm_keeps_sparse_gradients_sparse() -> None:
    sparse = tf.IndexedSlices(tf.constant([[3.0, 0.0]]), tf.constant([1]), tf.constant([5, 2]))
    dense = tf.constant([0.0, 4.0])  # global norm 5
    clipped = opt_lib.clip_by_global_norm([sparse, dense, None], 1.0)
    assert isinstance(clipped[0], tf.IndexedSlices)
    assert clipped[2] is None
    np.testing.assert_allclose(clipped[0].values.numpy(), [[0.6, 0.0]], rtol=1e-6)
    np.testing.assert_array_equal(clipped[0].indices.numpy(), [1])
    np.testing.assert_allclose(clipped[1].numpy(), [0.0, 0.8], rtol=1e-6)
    unclipped = opt_lib.clip_by_global_norm([sparse, dense, None], 0.0)
    assert unclipped == [sparse, dense, None]
