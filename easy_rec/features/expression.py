"""ExprFeature expressions: a small safe language over input columns (no Python eval).

EasyRec writes them like ``"(age>=user_start_age) & (age<=user_end_age)"`` or
``"tf.math.log1p(price) / 10.0"``. `parse` turns the text into a tree (ExpressionError
with the position of the first problem), `names` lists the columns it reads and `evaluate`
computes it with TensorFlow ops, so the exported model applies it too.

Grammar, loosest binding first (EasyRec leaves the precedence of ``&`` and ``|`` open and asks
for parentheses; here comparisons bind tighter than ``&``, which binds tighter than ``|``):

    expr    := conj ('|' conj)*
    conj    := compare ('&' compare)*
    compare := sum (('<' | '<=' | '>' | '>=' | '==' | '!=') sum)?
    sum     := product (('+' | '-') product)*
    product := unary (('*' | '/') unary)*
    unary   := ('-' | '+') unary | atom
    atom    := number | column | function '(' expr (',' expr)* ')' | '(' expr ')'

Every value is a float64 tensor: a comparison gives 1.0 or 0.0, ``a & b`` is 1.0 where both are
non-zero, ``a | b`` where either is; ``x / 0`` gives 0 (not inf). Functions: FUNCTIONS below,
also spelt with a ``tf.math.``, ``tf.`` or ``math.`` prefix.
"""
from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import tensorflow as tf

#: function name -> (number of arguments, implementation)
FUNCTIONS: dict[str, tuple[int, Callable[..., tf.Tensor]]] = {
    "log1p": (1, tf.math.log1p),
    "log": (1, tf.math.log),
    "exp": (1, tf.math.exp),
    "sqrt": (1, tf.math.sqrt),
    "abs": (1, tf.math.abs),
    "floor": (1, tf.math.floor),
    "ceil": (1, tf.math.ceil),
    "sigmoid": (1, tf.math.sigmoid),
    "tanh": (1, tf.math.tanh),
    "minimum": (2, tf.math.minimum),
    "maximum": (2, tf.math.maximum),
    "min": (2, tf.math.minimum),
    "max": (2, tf.math.maximum),
    "pow": (2, tf.math.pow),
}
_PREFIXES = ("tf.math.", "tf.", "math.")
_TOKEN = re.compile(r"""
    (?P<space>\s+)
  | (?P<number>(?:\d+\.?\d*|\.\d+)(?:[eE][-+]?\d+)?)
  | (?P<name>[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*)
  | (?P<op><=|>=|==|!=|[-+*/()<>&|,])
""", re.VERBOSE)
_COMPARISONS = {"<": tf.math.less, "<=": tf.math.less_equal, ">": tf.math.greater,
                ">=": tf.math.greater_equal, "==": tf.math.equal, "!=": tf.math.not_equal}


class ExpressionError(ValueError):
    """A malformed expression; `position` is the 0-based offset of the problem."""

    def __init__(self, reason: str, position: int):
        super().__init__(f"{reason} at position {position}")
        self.reason = reason
        self.position = position


@dataclass(frozen=True)
class Node:
    """A parsed expression: `op` is 'number', 'column', 'call', 'neg' or an operator;
    `value` the number, column or function name; `args` the operands."""

    op: str
    value: float | str | None = None
    args: tuple[Node, ...] = ()


@dataclass(frozen=True)
class _Token:
    kind: str
    text: str
    position: int


def _tokens(text: str) -> list[_Token]:
    tokens, position = [], 0
    while position < len(text):
        match = _TOKEN.match(text, position)
        if match is None:
            raise ExpressionError(f"unexpected character {text[position]!r}", position)
        if match.lastgroup != "space":
            tokens.append(_Token(match.lastgroup, match.group(), position))
        position = match.end()
    tokens.append(_Token("end", "", len(text)))
    return tokens


def function_name(name: str) -> str | None:
    """The FUNCTIONS key of a (possibly prefixed) function name, or None."""
    for prefix in _PREFIXES:
        if name.startswith(prefix):
            name = name[len(prefix):]
            break
    return name if name in FUNCTIONS else None


class _Parser:
    def __init__(self, text: str):
        self.tokens = _tokens(text)
        self.index = 0

    @property
    def token(self) -> _Token:
        return self.tokens[self.index]

    def take(self, *texts: str) -> _Token | None:
        """The current token when it is an operator among `texts` (consumed), else None."""
        if self.token.kind == "op" and self.token.text in texts:
            self.index += 1
            return self.tokens[self.index - 1]
        return None

    def expect(self, text: str) -> None:
        if self.take(text) is None:
            found = repr(self.token.text) if self.token.kind != "end" else "the end"
            raise ExpressionError(f"expected {text!r}, found {found}", self.token.position)

    def parse(self) -> Node:
        node = self.disjunction()
        if self.token.kind != "end":
            raise ExpressionError(f"unexpected {self.token.text!r}", self.token.position)
        return node

    def binary(self, operand: Callable[[], Node], ops: tuple[str, ...], repeat: bool = True) -> Node:
        node = operand()
        while (token := self.take(*ops)) is not None:
            node = Node(token.text, None, (node, operand()))
            if not repeat:
                break
        return node

    def disjunction(self) -> Node:
        return self.binary(self.conjunction, ("|",))

    def conjunction(self) -> Node:
        return self.binary(self.comparison, ("&",))

    def comparison(self) -> Node:
        return self.binary(self.sum, tuple(_COMPARISONS), repeat=False)

    def sum(self) -> Node:
        return self.binary(self.product, ("+", "-"))

    def product(self) -> Node:
        return self.binary(self.unary, ("*", "/"))

    def unary(self) -> Node:
        if self.take("-"):
            return Node("neg", None, (self.unary(),))
        if self.take("+"):
            return self.unary()
        return self.atom()

    def atom(self) -> Node:
        token = self.token
        if token.kind == "number":
            self.index += 1
            return Node("number", float(token.text))
        if token.kind == "name":
            self.index += 1
            if self.take("("):
                return self.call(token)
            if "." in token.text:
                raise ExpressionError(f"{token.text!r} is not a column name (a function "
                                      "needs its arguments in parentheses)", token.position)
            return Node("column", token.text)
        if self.take("("):
            node = self.disjunction()
            self.expect(")")
            return node
        found = repr(token.text) if token.kind != "end" else "the end"
        raise ExpressionError(f"expected a number, a column or '(', found {found}", token.position)

    def call(self, token: _Token) -> Node:
        name = function_name(token.text)
        if name is None:
            raise ExpressionError(f"unknown function {token.text!r}; known: "
                                  f"{', '.join(sorted(FUNCTIONS))}", token.position)
        args = [self.disjunction()]
        while self.take(","):
            args.append(self.disjunction())
        self.expect(")")
        arity = FUNCTIONS[name][0]
        if len(args) != arity:
            raise ExpressionError(f"{token.text} takes {arity} argument(s), got {len(args)}",
                                  token.position)
        return Node("call", name, tuple(args))


def parse(text: str) -> Node:
    """The tree of `text`; ExpressionError for a malformed or empty expression."""
    return _Parser(text).parse()


def names(node: Node) -> list[str]:
    """Columns the expression reads, in first-use order."""
    found = [node.value] if node.op == "column" else []
    for arg in node.args:
        found += names(arg)
    return list(dict.fromkeys(found))


def evaluate(node: Node, columns: Mapping[str, tf.Tensor]) -> tf.Tensor:
    """Value of the expression (float64) for `columns` (float64 tensors of one shape)."""
    if node.op == "number":
        return tf.constant(node.value, tf.float64)
    if node.op == "column":
        return columns[node.value]
    args = [evaluate(arg, columns) for arg in node.args]
    if node.op == "call":
        return FUNCTIONS[node.value][1](*args)
    if node.op == "neg":
        return -args[0]
    left, right = args
    if node.op in _COMPARISONS:
        return tf.cast(_COMPARISONS[node.op](left, right), tf.float64)
    if node.op in ("&", "|"):
        both = tf.logical_and if node.op == "&" else tf.logical_or
        return tf.cast(both(tf.not_equal(left, 0.0), tf.not_equal(right, 0.0)), tf.float64)
    if node.op == "/":
        return tf.math.divide_no_nan(left, right)
    return {"+": tf.add, "-": tf.subtract, "*": tf.multiply}[node.op](left, right)
