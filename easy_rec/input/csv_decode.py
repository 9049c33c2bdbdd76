"""The fast path of CSV line parsing: ``tf.io.decode_csv`` over a whole block of lines.

``decode_csv`` converts a block several times faster than splitting every line into cells,
but it fails the whole block on a bad row and cannot say which cells were empty. So a block
takes this path only when every line fully matches one RE2 pattern of the row layout: the
exact number of columns, and every wanted numeric or bool cell empty or valid by the same
cell patterns that LineParser checks (cell_patterns.py), integers with few enough digits that
they cannot overflow. Such a block decodes to the same values as the cell-by-cell path; any
other block goes the cell-by-cell way, which reports or skips its malformed rows by place.
"""
from __future__ import annotations

import logging

import tensorflow as tf

from easy_rec.input import fields as field_types
from easy_rec.input.quoted_cells import cell_pattern, quoted_or_plain, re2_char
from easy_rec.tables.cell_patterns import BLANKS

logger = logging.getLogger(__name__)


def row_pattern(columns: list, separator: str, num_columns: int, quoted: bool = False) -> str:
    """RE2 pattern a line matches when its `num_columns` cells are valid for `columns`
    (LineParser Columns; cells of other positions may hold anything but the separator).
    `quoted`: cells may be double-quoted (quoted_cells.py)."""
    sep = re2_char(separator)
    blanks = "[" + "".join(re2_char(c) for c in BLANKS if c != separator) + "]"
    by_index = {c.index: c for c in columns}
    cells = []
    for index in range(num_columns):
        column = by_index.get(index)
        if column is None or column.dtype == tf.string:
            cells.append(cell_pattern(separator) if quoted else f"[^{sep}]*")
            continue
        value = f"(?:{field_types.in_range_pattern(column.dtype, blanks)})?"
        cells.append(quoted_or_plain(value) if quoted else value)
    return sep.join(cells)


class BlockDecoder:
    """Decodes blocks of lines with decode_csv once `all_valid` says the block fits."""

    def __init__(self, columns: list, separator: str, num_columns: int, quoted: bool = False):
        """`columns`: LineParser Columns (with valid defaults) at distinct positions;
        `quoted`: cells may be double-quoted."""
        self._columns = sorted(columns, key=lambda c: c.index)
        self._separator = separator
        self._quoted = quoted
        self._select = [c.index for c in self._columns]
        self._pattern = row_pattern(self._columns, separator, num_columns, quoted)
        self._defaults = [self._record_default(c) for c in self._columns]

    @staticmethod
    def supports(separator: str) -> bool:
        """decode_csv splits on one byte only."""
        return len(separator.encode("utf-8")) == 1 and separator not in "\n\r"

    def compiles(self) -> bool:
        """False when RE2 rejects the row pattern (e.g. too large for very wide rows)."""
        try:
            tf.strings.regex_full_match([""], self._pattern)
        except tf.errors.InvalidArgumentError as error:
            logger.warning("CSV rows of this layout are parsed cell by cell (%s)", error.message)
            return False
        return True

    @staticmethod
    def _record_default(column) -> tf.Tensor:
        if column.dtype in (tf.string, tf.bool):  # bool cells are decoded as text, then mapped
            return tf.constant(column.default, tf.string)
        return tf.constant(field_types.parse_default(column.default, column.dtype), column.dtype)

    def all_valid(self, lines: tf.Tensor) -> tf.Tensor:
        """Scalar bool: every line fits the row layout."""
        return tf.reduce_all(tf.strings.regex_full_match(lines, self._pattern))

    def decode(self, lines: tf.Tensor) -> dict[str, tf.Tensor]:
        """{column name: [n] values} of lines for which `all_valid` holds."""
        cells = tf.io.decode_csv(lines, self._defaults, field_delim=self._separator,
                                 use_quote_delim=self._quoted, select_cols=self._select)
        return {c.name: field_types.parse_cells(v, c.dtype) if c.dtype == tf.bool else v
                for c, v in zip(self._columns, cells)}
