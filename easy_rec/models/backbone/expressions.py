"""A small, safe interpreter for the Python snippets of EasyRec backbone configs.

EasyRec evaluates `input_fn`, `extra_input_fn`, `package_input_fn`, `lambda { expression }`
and `input_slice` with Python's `eval`. Here they are parsed with `ast.parse` (which runs
nothing) and interpreted over a whitelist, so a config cannot run arbitrary code.

Accepted grammar (see docs/backbone.md):

    function  := "lambda" NAME ("," NAME)* ":" expr
    slice     := ("[" subscript "]")+              -- input_slice, applied to the input x
    expr      := NAME | constant | "[" exprs "]" | "(" exprs ")" | expr "[" subscript "]"
               | CALL "(" exprs ["," keywords] ")" | expr ("+"|"-"|"*"|"/") expr | "-" expr
    subscript := index ("," index)*;  index := expr | [expr] ":" [expr] [":" expr] | "..."
    constant  := number | string | True | False | None

NAME is a lambda argument (for a repeat block's input_slice / input_fn also the repetition
index `i`); CALL is one of `ALLOWED_CALLS` (tf.concat, tf.stack, tf.reduce_sum, list, ...)
and the only attributes are those dotted names and the dtypes in `ALLOWED_CONSTANTS`.
"""
from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Sequence
from typing import Any

import tensorflow as tf

ALLOWED_CALLS: dict[str, Callable[..., Any]] = {
    "tf.concat": tf.concat,
    "tf.stack": tf.stack,
    "tf.unstack": tf.unstack,
    "tf.split": tf.split,
    "tf.add_n": tf.add_n,
    "tf.add": tf.add,
    "tf.subtract": tf.subtract,
    "tf.multiply": tf.multiply,
    "tf.divide": tf.divide,
    "tf.reduce_sum": tf.reduce_sum,
    "tf.reduce_mean": tf.reduce_mean,
    "tf.reduce_max": tf.reduce_max,
    "tf.reduce_min": tf.reduce_min,
    "tf.expand_dims": tf.expand_dims,
    "tf.squeeze": tf.squeeze,
    "tf.reshape": tf.reshape,
    "tf.transpose": tf.transpose,
    "tf.gather": tf.gather,
    "tf.identity": tf.identity,
    "tf.stop_gradient": tf.stop_gradient,
    "tf.cast": tf.cast,
    "tf.shape": tf.shape,
    "tf.ones_like": tf.ones_like,
    "tf.zeros_like": tf.zeros_like,
    "tf.abs": tf.abs,
    "tf.square": tf.square,
    "tf.sqrt": tf.sqrt,
    "tf.exp": tf.exp,
    "tf.math.log": tf.math.log,
    "tf.sigmoid": tf.sigmoid,
    "tf.tanh": tf.tanh,
    "tf.nn.sigmoid": tf.nn.sigmoid,
    "tf.nn.relu": tf.nn.relu,
    "tf.nn.softmax": tf.nn.softmax,
    "tf.nn.l2_normalize": tf.nn.l2_normalize,
    "tf.math.l2_normalize": tf.math.l2_normalize,
    "list": list,
    "tuple": tuple,
    "len": len,
}
ALLOWED_CONSTANTS: dict[str, Any] = {
    "tf.float32": tf.float32,
    "tf.float64": tf.float64,
    "tf.int32": tf.int32,
    "tf.int64": tf.int64,
    "tf.bool": tf.bool,
    "tf.string": tf.string,
}
_BINARY = {ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul,
           ast.Div: operator.truediv}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos}
_NAMED_CONSTANTS = {"None": None, "True": True, "False": False}
#: the most times `[...] * n` may repeat a list, tuple or string
MAX_REPEAT = 10_000


class ExpressionError(ValueError):
    """A snippet outside the accepted grammar (the message says what and where)."""


class Function:
    """A parsed snippet: call it with the values of its arguments."""

    def __init__(self, text: str, params: Sequence[str], body: ast.expr):
        self.text = text
        self.params = tuple(params)
        self._body = body

    def __call__(self, *args: Any) -> Any:
        if len(args) != len(self.params):
            raise TypeError(f"{self.text!r} takes {len(self.params)} argument(s), got {len(args)}")
        return _evaluate(self._body, dict(zip(self.params, args)))


def parse_function(text: str, max_params: int = 1) -> Function:
    """A `lambda a[, b]: expr` snippet with at most `max_params` arguments."""
    tree = _parse(text.strip())
    if not isinstance(tree, ast.Lambda):
        raise ExpressionError(f"{text!r} is not a lambda (expected 'lambda x: ...')")
    args = tree.args
    if args.posonlyargs or args.kwonlyargs or args.vararg or args.kwarg or args.defaults:
        raise ExpressionError(f"{text!r}: only plain arguments are accepted ('lambda x: ...')")
    names = [a.arg for a in args.args]
    if not 1 <= len(names) <= max_params:
        raise ExpressionError(f"{text!r} must take 1 to {max_params} argument(s); takes "
                              f"{len(names)}")
    _validate(tree.body, set(names), text)
    return Function(text, names, tree.body)


def parse_slice(text: str, extra_names: Sequence[str] = ()) -> Function:
    """An `input_slice` such as '[1]' or '[:, 0]', as a function of the input x (and of the
    names in `extra_names`, e.g. the repetition index i of a repeat block)."""
    stripped = text.strip()
    if not stripped.startswith("["):
        raise ExpressionError(f"input_slice {text!r} must start with '[' (e.g. '[1]', '[:, 0]')")
    tree = _parse("x" + stripped)
    node = tree
    while isinstance(node, ast.Subscript):
        node = node.value
    if not (isinstance(node, ast.Name) and node.id == "x"):
        raise ExpressionError(f"input_slice {text!r} must be a sequence of [...] subscripts")
    names = ("x", *extra_names)
    _validate(tree, set(names), text)
    return Function(text, names, tree)


def _parse(text: str) -> ast.expr:
    try:
        return ast.parse(text, mode="eval").body
    except SyntaxError as error:
        raise ExpressionError(f"{text!r} is not a valid expression: {error.msg} "
                              f"(column {error.offset})") from None


def dotted_name(node: ast.expr) -> str | None:
    """'tf.nn.relu' for the attribute chain tf.nn.relu; None for anything else."""
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if not isinstance(node, ast.Name):
        return None
    parts.append(node.id)
    return ".".join(reversed(parts))


def _validate(node: ast.expr, names: set[str], text: str) -> None:
    """ExpressionError unless every node of `node` is in the grammar."""
    def fail(what: str) -> ExpressionError:
        return ExpressionError(f"{text!r}: {what} is not accepted (column {node.col_offset + 1}); "
                               "see the backbone expression grammar in docs/backbone.md")

    if isinstance(node, ast.Constant):
        if not isinstance(node.value, (int, float, str, bool, type(None), type(...))):
            raise fail(f"constant {node.value!r}")
        return
    if isinstance(node, ast.Name):
        if node.id not in names and node.id not in _NAMED_CONSTANTS:
            raise fail(f"name {node.id!r}")
        return
    if isinstance(node, ast.Attribute):
        if dotted_name(node) not in ALLOWED_CONSTANTS:
            raise fail(f"attribute {dotted_name(node) or node.attr!r}")
        return
    if isinstance(node, ast.Call):
        name = dotted_name(node.func)
        if name not in ALLOWED_CALLS:
            raise fail(f"call of {name!r}" if name else "call of an expression")
        for arg in node.args:
            if isinstance(arg, ast.Starred):
                raise fail("*args")
            _validate(arg, names, text)
        for keyword in node.keywords:
            if keyword.arg is None:
                raise fail("**kwargs")
            _validate(keyword.value, names, text)
        return
    if isinstance(node, (ast.List, ast.Tuple)):
        for element in node.elts:
            _validate(element, names, text)
        return
    if isinstance(node, ast.Subscript):
        _validate(node.value, names, text)
        _validate(node.slice, names, text)
        return
    if isinstance(node, ast.Slice):
        for part in (node.lower, node.upper, node.step):
            if part is not None:
                _validate(part, names, text)
        return
    if isinstance(node, ast.BinOp) and type(node.op) in _BINARY:
        _validate(node.left, names, text)
        _validate(node.right, names, text)
        return
    if isinstance(node, ast.UnaryOp) and type(node.op) in _UNARY:
        _validate(node.operand, names, text)
        return
    raise fail(type(node).__name__)


def _evaluate(node: ast.expr, scope: dict[str, Any]) -> Any:
    """Value of a validated node."""
    if isinstance(node, ast.Constant):
        return node.value
    if isinstance(node, ast.Name):
        return scope[node.id] if node.id in scope else _NAMED_CONSTANTS[node.id]
    if isinstance(node, ast.Attribute):
        return ALLOWED_CONSTANTS[dotted_name(node)]
    if isinstance(node, ast.Call):
        function = ALLOWED_CALLS[dotted_name(node.func)]
        args = [_evaluate(a, scope) for a in node.args]
        kwargs = {k.arg: _evaluate(k.value, scope) for k in node.keywords}
        return function(*args, **kwargs)
    if isinstance(node, ast.List):
        return [_evaluate(e, scope) for e in node.elts]
    if isinstance(node, ast.Tuple):
        return tuple(_evaluate(e, scope) for e in node.elts)
    if isinstance(node, ast.Subscript):
        return _evaluate(node.value, scope)[_evaluate(node.slice, scope)]
    if isinstance(node, ast.Slice):
        return slice(*(None if p is None else _evaluate(p, scope)
                       for p in (node.lower, node.upper, node.step)))
    if isinstance(node, ast.BinOp):
        left, right = _evaluate(node.left, scope), _evaluate(node.right, scope)
        if isinstance(node.op, ast.Mult) and _too_long(left, right):
            raise ExpressionError(f"repeating a sequence more than {MAX_REPEAT} times")
        return _BINARY[type(node.op)](left, right)
    return _UNARY[type(node.op)](_evaluate(node.operand, scope))


def _too_long(left: Any, right: Any) -> bool:
    """Whether left * right repeats a list, tuple or string more than MAX_REPEAT times."""
    sequences = (list, tuple, str)
    count = right if isinstance(left, sequences) else left if isinstance(right, sequences) else 0
    return isinstance(count, int) and count > MAX_REPEAT
