"""What table readers yield: consecutive rows of one input file and where each came from."""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import pyarrow as pa

MAX_LOGGED_REJECTS = 5  # rejected rows a reader or converter logs by place; the rest are counted


@dataclass
class Chunk:
    """Consecutive rows of one input file.

    `table` holds the rows that were read (requested columns only), `rejected` the rows of the
    same span the reader dropped (wrong column count, ignore_error only), and `locate(i)` names
    the place of row i of `table`, e.g. ``data.csv:17`` or ``data.parquet: row 17``.
    """

    table: pa.Table
    rejected: int
    locate: Callable[[int], str]
