"""The error of an input that holds no rows (every file empty or only a header, an empty
topic, or every row malformed and skipped)."""
from __future__ import annotations

from easy_rec.tables.errors import InputError

_NAMED_PLACES = 3
EMPTY_FILES = "empty, or only a header; check the input path and that the data was written"


class EmptyInputError(InputError):
    """The training or evaluation input has no rows."""


def no_rows_error(role: str, places: list[str], reason: str = EMPTY_FILES) -> EmptyInputError:
    """`no <role> rows in <places>: <reason>`, role e.g. "training" or "evaluation"."""
    if len(places) == 1:
        where = places[0]
    else:
        named = ", ".join(places[:_NAMED_PLACES])
        more = f", ... {len(places) - _NAMED_PLACES} more" if len(places) > _NAMED_PLACES else ""
        where = f"any of {len(places)} inputs ({named}{more})"
    return EmptyInputError(f"no {role} rows in {where}: {reason}")
