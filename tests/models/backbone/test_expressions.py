"""The backbone's snippets run through a whitelist interpreter, never through eval."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.models.backbone.expressions import ExpressionError, parse_function, parse_slice


def test_easy_rec_lambdas_compute_what_python_would():
    x = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    reduce_sum = parse_function("lambda x: tf.reduce_sum(x, axis=1, keepdims=True)")
    np.testing.assert_allclose(reduce_sum(x).numpy(), [[3.0], [7.0]])
    assert parse_function("lambda x: [x, x]")(x)[1] is x
    np.testing.assert_allclose(parse_function("lambda x: tf.add_n(x)")([x, x]).numpy(), 2 * x)
    assert parse_function("lambda x: x[1]")(["a", "b"]) == "b"
    assert parse_function("lambda x: list(x) + [None]")(("a",)) == ["a", None]
    np.testing.assert_allclose(parse_function("lambda x: -x * 2.0 + 1")(x).numpy(),
                               [[-1.0, -3.0], [-5.0, -7.0]])
    cast = parse_function("lambda x: tf.cast(x, tf.int32)")(x)
    assert cast.dtype == tf.int32


def test_slices_apply_to_the_input_and_may_use_the_repeat_index():
    x = tf.reshape(tf.range(6), [2, 3])
    assert parse_slice("[1]")(["a", "b"]) == "b"
    assert parse_slice(" [:, 0] ")(x).numpy().tolist() == [0, 3]
    assert parse_slice("[0][1:]")([[1, 2, 3]]) == [2, 3]
    assert parse_slice("[i]", ("i",))(["a", "b"], 1) == "b"
    repeat_fn = parse_function("lambda x, i: x[i]", max_params=2)
    assert repeat_fn(["a", "b"], 0) == "a"


@pytest.mark.parametrize("text, problem", [
    ("lambda x: __import__('os').system('true')", "call of an expression"),
    ("lambda x: x.numpy()", "call of 'x.numpy'"),
    ("lambda x: __import__('os')", "call of '__import__'"),
    ("lambda x: x.shape", "attribute 'x.shape'"),
    ("lambda x: os.getcwd()", "call of 'os.getcwd'"),
    ("lambda x: tf.io.write_file('f', x)", "call of 'tf.io.write_file'"),
    ("lambda x: y", "name 'y'"),
    ("lambda x: [v for v in x]", "ListComp"),
    ("lambda x: x ** 2", "BinOp"),
    ("lambda x, y: x", "must take 1 to 1 argument"),
    ("lambda *x: x", "only plain arguments"),
    ("x + 1", "is not a lambda"),
    ("lambda x: (", "is not a valid expression"),
])
def test_anything_outside_the_grammar_is_refused(text, problem):
    with pytest.raises(ExpressionError, match=problem.replace("(", r"\(").replace("*", r"\*")):
        parse_function(text)


def test_bad_slices_and_huge_repeats_are_refused():
    with pytest.raises(ExpressionError, match="must start with"):
        parse_slice("1")
    with pytest.raises(ExpressionError, match="sequence of"):
        parse_slice("[0].foo")
    with pytest.raises(ExpressionError, match="name 'i'"):
        parse_slice("[i]")
    with pytest.raises(ExpressionError, match="more than 10000 times"):
        parse_function("lambda x: [x] * 100000000")(1)
