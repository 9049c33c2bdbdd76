"""Which text cells are valid values of each input field type.

One definition shared by the CSV / Kafka line parser (RE2 in TensorFlow), the column converter
of batch prediction (convert.py, pyarrow) and config validation (Python ``re``, so
easy_rec.config stays free of TensorFlow). Empty cells take the field's default and are never
checked against these.
"""
from __future__ import annotations

import re

from easy_rec.protos import dataset_pb2

_T = dataset_pb2.DatasetConfig
_INT = r"{b}*[-+]?\d+{b}*"
_FLOAT = (r"{b}*[-+]?((\d+\.?\d*|\.\d+)([eE][-+]?\d+)?|[iI][nN][fF]([iI][nN][iI][tT][yY])?"
          r"|[nN][aA][nN]){b}*")
_BOOL = r"{b}*([01]|[tT][rR][uU][eE]|[fF][aA][lL][sS][eE]){b}*"
# `{b}` stands for the class of blanks allowed around the value.
_TEMPLATES: dict[int, str] = {_T.INT32: _INT, _T.INT64: _INT, _T.FLOAT: _FLOAT,
                              _T.DOUBLE: _FLOAT, _T.BOOL: _BOOL}
# RE2's \s, spelled out so that Python's re means the same blanks
BLANKS = "\t\n\f\r "
# inclusive value range of the integer types; a cell matching the pattern outside it is invalid
INT_RANGES: dict[int, tuple[int, int]] = {_T.INT32: (-(2**31), 2**31 - 1),
                                          _T.INT64: (-(2**63), 2**63 - 1)}
# digit counts no value outside the range can have
_SAFE_DIGITS = {_T.INT32: 9, _T.INT64: 18}
_PYTHON_BLANKS = "[" + re.escape(BLANKS) + "]"


def cell_pattern(field_type: int, blanks: str = r"\s") -> str:
    """Pattern a valid non-empty cell of a numeric or BOOL `field_type` fully matches;
    `blanks` is the character class of the blanks allowed around the value."""
    return _TEMPLATES[field_type].replace("{b}", blanks)


def in_range_pattern(field_type: int, blanks: str) -> str:
    """cell_pattern, with integers cut to digit counts that cannot overflow (cells it rejects
    may still be valid: they need the range check)."""
    pattern = cell_pattern(field_type, blanks)
    if field_type in _SAFE_DIGITS:
        pattern = pattern.replace("\\d+", f"\\d{{1,{_SAFE_DIGITS[field_type]}}}")
    return pattern


def is_valid_cell(text: str, field_type: int) -> bool:
    """Whether `text` is a valid value of `field_type` (any text is a valid STRING)."""
    if field_type not in _TEMPLATES:
        return True
    if re.fullmatch(cell_pattern(field_type, _PYTHON_BLANKS), text, re.ASCII) is None:
        return False
    if field_type in INT_RANGES:
        low, high = INT_RANGES[field_type]
        return low <= int(text) <= high
    return True
