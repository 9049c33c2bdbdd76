"""ExprFeature's expression language: parsing, precedence, evaluation and refusals."""
from __future__ import annotations

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.features.expression import ExpressionError, evaluate, names, parse

COLUMNS = {"a": tf.constant([1.0, 3.0, 7.0], tf.float64),
           "b": tf.constant([2.0, 3.0, 1.0], tf.float64)}


def value(text: str) -> list[float]:
    return evaluate(parse(text), COLUMNS).numpy().tolist()


@pytest.mark.parametrize("text, expected", [
    # EasyRec's documented examples, with a = [1, 3, 7], b = [2, 3, 1]
    ("a>=1", [1, 1, 1]),
    ("a<(b+5)", [1, 1, 0]),
    ("a==b", [0, 1, 0]),
    ("(a>=b) & (a<=(b+5))", [0, 1, 0]),
    ("(a>=b) | (a>5)", [0, 1, 1]),
    # arithmetic precedence, unary minus, numbers in every spelling
    ("-a*2+3", [1, -3, -11]),
    ("a+b*2", [5, 9, 9]),
    ("(a+b)*2", [6, 12, 16]),
    ("1e1 - .5*a", [9.5, 8.5, 6.5]),
    ("a != 3", [1, 0, 1]),
    # comparisons bind tighter than &, & tighter than |
    ("a > 2 & b < 2 | a == 1", [1, 0, 1]),
    # x / 0 gives 0, as divide_no_nan
    ("a / (b - 3)", [-1, 0, -3.5]),
    ("max(a, b) - min(a, b)", [1, 0, 6]),
])
def test_values(text, expected):
    np.testing.assert_allclose(value(text), expected, rtol=1e-12)


def test_functions_with_tf_prefixes():
    np.testing.assert_allclose(value("tf.math.log1p(a) / 10.0"), np.log1p([1, 3, 7]) / 10)
    np.testing.assert_allclose(value("tf.sqrt(b) + math.abs(-a)"), np.sqrt([2, 3, 1]) + [1, 3, 7])


def test_names_in_first_use_order():
    assert names(parse("(b > a) & (a < 3) | log(b)")) == ["b", "a"]
    assert names(parse("1 + 2")) == []


@pytest.mark.parametrize("text, words, position", [
    ("", "expected a number, a column or '(', found the end", 0),
    ("a >", "found the end", 3),
    ("a b", "unexpected 'b'", 2),
    ("(a", "expected ')', found the end", 2),
    ("a < b < 3", "unexpected '<'", 6),
    ("a $ b", "unexpected character '$'", 2),
    ("os.system(1)", "unknown function 'os.system'", 0),
    ("__import__('os')", "unexpected character \"'\"", 11),
    ("log1p(a, b)", "log1p takes 1 argument(s), got 2", 0),
    ("tf.pi", "is not a column name", 0),
])
def test_malformed_expressions_name_the_position(text, words, position):
    with pytest.raises(ExpressionError) as info:
        parse(text)
    assert words in info.value.reason and info.value.position == position
