"""Maps the fields written in a protobuf text-format config to the lines they are on."""
from __future__ import annotations

import logging
from dataclasses import dataclass

from google.protobuf import descriptor as _descriptor
from google.protobuf import text_format

from easy_rec.config.paths import PathSyntaxError, join_path, parse_index, parse_segment, split_path

logger = logging.getLogger(__name__)

_Position = tuple[int, int]  # 0-based (line, column)
_OPENERS = {"{": "}", "<": ">"}


@dataclass
class _Occurrence:
    """One field written in the text: its path and the span from its name to its value's end."""

    path: str
    start: _Position
    end: _Position | None = None  # None: runs to the end of the text (unclosed block)


class FieldLocator:
    """Line numbers of the fields of a text-format config, addressed by field path.

    Paths look like ``model_config.feature_groups[1].feature_names[2]``. Repeated fields
    get an index per element, whether written several times or as a list
    (``field: [a, b]``); ``field`` without an index names the first one. When a descriptor
    is given, fields it declares as singular (or does not know) get no index; below an
    unknown field, and everywhere when there is no descriptor, every field is indexed.

    The walk is tolerant: on text that does not tokenize it keeps what it saw up to the
    problem, so it also helps to name the field a parse error is in (`field_at`).
    """

    def __init__(self, text: str, descriptor: _descriptor.Descriptor | None = None) -> None:
        self._lines: dict[str, int] = {}
        self._counts: dict[str, int] = {}
        self._occurrences: list[_Occurrence] = []
        self.complete = _Walker(self, text, descriptor).walk()

    # -- recording, used by the walker -------------------------------------------------
    def _record(self, path: str, start: _Position) -> _Occurrence:
        self._lines.setdefault(path, start[0] + 1)
        occurrence = _Occurrence(path, start)
        self._occurrences.append(occurrence)
        return occurrence

    def _next_index(self, base: str, start: _Position) -> int:
        self._lines.setdefault(base, start[0] + 1)
        index = self._counts.get(base, 0)
        self._counts[base] = index + 1
        return index

    # -- queries -----------------------------------------------------------------------
    def paths(self) -> list[str]:
        """Every recorded path, in the order first seen."""
        return list(self._lines)

    def count(self, path: str) -> int:
        """How many elements of the repeated field `path` the text holds (0 if none)."""
        return self._counts.get(path, 0)

    def exact(self, path: str) -> int | None:
        """Line of `path` itself, None when the text does not write it (no fallback)."""
        segments = self._normalise(path)
        return None if segments is None else self._lines.get(_render(segments))

    def locate(self, path: str) -> int | None:
        """1-based line of `path`, else of its nearest ancestor the text writes, else None.

        Negative indexes count from the end (``features[-1]``); an indexed field named
        without an index inside a path means its first element.
        """
        segments = self._normalise(path)
        if segments is None:
            return None
        while segments:
            line = self._lines.get(_render(segments))
            if line is not None:
                return line
            name, index = segments[-1]
            if index is not None:
                segments[-1] = (name, None)
            else:
                segments.pop()
        return None

    def field_at(self, line: int, column: int | None = None) -> str | None:
        """Path of the innermost field whose text spans 1-based `line`:`column`, if any."""
        position = (line - 1, (column or 1) - 1)
        best: _Occurrence | None = None
        for occurrence in self._occurrences:
            if occurrence.start <= position and (occurrence.end is None or position < occurrence.end):
                if best is None or occurrence.start >= best.start:
                    best = occurrence
        return best.path if best else None

    def _normalise(self, path: str) -> list[tuple[str, int | None]] | None:
        """[(name, index)] with negative indexes resolved; None if `path` is not plain."""
        try:
            raw = [parse_segment(s) for s in split_path(path)]
        except PathSyntaxError:
            return None
        segments: list[tuple[str, int | None]] = []
        for position, (name, selectors) in enumerate(raw):
            if len(selectors) > 1:
                return None
            index = parse_index(selectors[0]) if selectors else None
            if selectors and index is None:
                return None
            is_last = position == len(raw) - 1
            if index is None and not is_last and _render(segments + [(name, None)]) in self._counts:
                index = 0  # an indexed field named without an index: its first element
            if index is not None and index < 0:
                base = _render(segments + [(name, None)])
                index += self._counts.get(base, 0)
                if index < 0:
                    return None
            segments.append((name, index))
        return segments


def _render(segments: list[tuple[str, int | None]]) -> str:
    path = ""
    for name, index in segments:
        path = join_path(path, name if index is None else f"{name}[{index}]")
    return path


class _Walker:
    """Walks the token stream the way text_format's parser does, recording fields."""

    def __init__(self, locator: FieldLocator, text: str,
                 descriptor: _descriptor.Descriptor | None) -> None:
        self._locator = locator
        self._descriptor = descriptor
        self._open: list[_Occurrence] = []
        self._tokens = text_format.Tokenizer(text.split("\n"))

    def walk(self) -> bool:
        """Records every field; False when the text stops making sense part way."""
        try:
            self._message("", self._descriptor, None)
            return True
        except (text_format.ParseError, ValueError) as error:
            logger.debug("field locator stopped early: %s", error)
            return False

    def _position(self) -> _Position:
        tokens = self._tokens
        return (tokens._line, tokens._column)  # noqa: SLF001 (the Tokenizer has no public accessor)

    def _consume(self) -> _Position:
        """Consumes the current token; returns the position just after it."""
        line, column = self._position()
        end = (line, column + len(self._tokens.token))
        self._tokens.NextToken()
        return end

    def _message(self, prefix: str, descriptor: _descriptor.Descriptor | None,
                 closing: str | None) -> None:
        tokens = self._tokens
        while True:
            if closing is not None and tokens.token == closing:
                return
            if tokens.AtEnd():
                if closing is not None:
                    raise text_format.ParseError(f"missing {closing!r}")
                return
            self._field(prefix, descriptor)
            if not tokens.TryConsume(","):
                tokens.TryConsume(";")

    def _field(self, prefix: str, descriptor: _descriptor.Descriptor | None) -> None:
        tokens = self._tokens
        start = self._position()
        name = self._field_name()
        field = descriptor.fields_by_name.get(name) if descriptor is not None else None
        if field is None and descriptor is not None:
            field = descriptor.fields_by_name.get(name.lower())  # groups are written capitalised
        sub_descriptor = field.message_type if field is not None else None
        # unknown fields of a known message are not indexed (they are reported, not counted)
        repeated = field.is_repeated if field is not None else descriptor is None
        base = join_path(prefix, name)
        if tokens.TryConsume(":") and tokens.token == "[":
            self._list(base, sub_descriptor)
            return
        self._value(base, repeated, sub_descriptor, start)

    def _field_name(self) -> str:
        tokens = self._tokens
        if tokens.TryConsume("["):  # extension or Any type URL: [a.b.c] / [type.googleapis.com/x]
            parts = []
            while not tokens.AtEnd() and tokens.token != "]":
                parts.append(tokens.token)
                tokens.NextToken()
            tokens.Consume("]")
            return "[" + "".join(parts) + "]"
        return tokens.ConsumeIdentifierOrNumber()

    def _list(self, base: str, sub_descriptor: _descriptor.Descriptor | None) -> None:
        tokens = self._tokens
        self._locator._lines.setdefault(base, self._position()[0] + 1)  # noqa: SLF001
        tokens.Consume("[")
        if tokens.TryConsume("]"):
            return
        while True:
            self._value(base, True, sub_descriptor, self._position())
            if tokens.TryConsume("]"):
                return
            tokens.Consume(",")

    def _value(self, base: str, repeated: bool, sub_descriptor: _descriptor.Descriptor | None,
               start: _Position) -> None:
        tokens = self._tokens
        path = f"{base}[{self._locator._next_index(base, start)}]" if repeated else base  # noqa: SLF001
        occurrence = self._locator._record(path, start)  # noqa: SLF001
        if tokens.token in _OPENERS:
            closing = _OPENERS[tokens.token]
            tokens.NextToken()
            self._message(path, sub_descriptor, closing)
            occurrence.end = self._consume()
            return
        if tokens.AtEnd():
            raise text_format.ParseError(f"{path} has no value")
        occurrence.end = self._consume()
        while tokens.token[:1] in ("'", '"'):  # adjacent strings concatenate
            occurrence.end = self._consume()
