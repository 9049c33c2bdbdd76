"""Field paths such as ``model_config.feature_groups[1].feature_names[2]``.

A path is a list of segments separated by dots; a segment is a field name followed by
zero or more bracketed selectors. Dots and brackets inside a selector (``[name=a.b]``,
``[input_names[0]=x]``) belong to the selector.
"""
from __future__ import annotations

import re

_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_INDEX = re.compile(r"-?\d+")


class PathSyntaxError(ValueError):
    """A field path that cannot be split into segments."""


def split_path(path: str) -> list[str]:
    """Splits `path` at the dots outside brackets; raises PathSyntaxError on bad brackets."""
    segments: list[str] = []
    depth = 0
    current: list[str] = []
    for char in path:
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth < 0:
                raise PathSyntaxError(f"unbalanced ']' in {path!r}")
        if char == "." and depth == 0:
            segments.append("".join(current))
            current = []
        else:
            current.append(char)
    if depth != 0:
        raise PathSyntaxError(f"unclosed '[' in {path!r}")
    segments.append("".join(current))
    if any(not s for s in segments):
        raise PathSyntaxError(f"empty field name in {path!r}")
    return segments


def parse_segment(segment: str) -> tuple[str, list[str]]:
    """``'features[0][:]'`` -> ``('features', ['0', ':'])``; PathSyntaxError when malformed."""
    match = _NAME.match(segment)
    if not match:
        raise PathSyntaxError(f"{segment!r} does not start with a field name")
    name = segment[:match.end()]
    selectors: list[str] = []
    rest = segment[match.end():]
    while rest:
        if rest[0] != "[":
            raise PathSyntaxError(f"unexpected {rest!r} after {name!r}")
        close = _matching_bracket(rest)
        selectors.append(rest[1:close].strip())
        rest = rest[close + 1:]
    return name, selectors


def _matching_bracket(text: str) -> int:
    """Index of the ']' closing the '[' at text[0]."""
    depth = 0
    for i, char in enumerate(text):
        if char == "[":
            depth += 1
        elif char == "]":
            depth -= 1
            if depth == 0:
                return i
    raise PathSyntaxError(f"unclosed '[' in {text!r}")


def parse_index(selector: str) -> int | None:
    """The integer of an index selector like ``'3'`` or ``'-1'``, else None."""
    return int(selector) if _INDEX.fullmatch(selector) else None


def join_path(prefix: str, name: str) -> str:
    """``join_path('a.b', 'c') == 'a.b.c'``; ``join_path('', 'c') == 'c'``."""
    return f"{prefix}.{name}" if prefix else name
