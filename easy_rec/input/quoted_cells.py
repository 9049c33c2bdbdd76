"""Double-quoted CSV cells (data_config.input_type: CSVInputV2), as EasyRec's CSVInputV2 reads
them with tf.data's CSV parser: a cell wrapped in double quotes may hold the separator, and
`""` inside it stands for one quote (`"say ""hi"", bye"` is `say "hi", bye`). A quote in a cell
that is not wrapped in quotes, or a quote that is never closed, makes the row malformed. Lines
are still lines: a quoted cell cannot span a line break.

Lines are split in two steps: one global RE2 replacement puts UNIT_SEPARATOR after every cell
that a separator ends (quoted cells are matched as a whole, so the separators inside them are
kept), then the lines are split at it. Cells must therefore not hold UNIT_SEPARATOR itself.
"""
from __future__ import annotations

import tensorflow as tf

UNIT_SEPARATOR = "\x1f"
_QUOTED = '"(?:[^"]|"")*"'


def re2_char(char: str) -> str:
    """RE2 escape of one character, usable inside and outside character classes."""
    return f"\\x{{{ord(char):x}}}"


def cell_pattern(separator: str) -> str:
    """RE2 pattern of one well formed cell: quoted, or without quotes and separators."""
    return f'(?:{_QUOTED}|[^{re2_char(separator)}"]*)'


def quoted_or_plain(value_pattern: str) -> str:
    """RE2 pattern of a cell holding `value_pattern` (which has no quotes), quoted or not."""
    return f'(?:"(?:{value_pattern})"|(?:{value_pattern}))'


def split_quoted(lines: tf.Tensor, separator: str) -> tuple[tf.RaggedTensor, tf.Tensor]:
    """[n] lines -> ([n, None] unquoted cells, [n] bool: every cell of the line is well formed).

    `separator` is one character other than the quote."""
    marked = tf.strings.regex_replace(lines, f"({cell_pattern(separator)}){re2_char(separator)}",
                                      "\\1" + UNIT_SEPARATOR)
    tokens = tf.strings.split(marked, UNIT_SEPARATOR)
    cells = tokens.flat_values
    well_formed = tf.strings.regex_full_match(cells, f'{_QUOTED}|[^"]*')
    quoted = tf.strings.regex_full_match(cells, _QUOTED)
    inner = tf.strings.regex_replace(cells, '(?s)^"(.*)"$', "\\1")
    unquoted = tf.where(quoted, tf.strings.regex_replace(inner, '""', '"'), cells)
    rows_ok = tf.reduce_all(tokens.with_flat_values(well_formed), axis=1)
    return tokens.with_flat_values(unquoted), rows_ok
