"""The tables EasyRec's negative samplers read, in graph-learn's tab separated layout.

- Item table (``input_path`` / ``item_input_path``): ``id<TAB>weight<TAB>attrs``, attrs being the
  values of attr_fields joined by attr_delimiter; an optional first line
  ``id:int64<TAB>weight:float<TAB>attrs:string`` (any first line starting with ``id:``) is a
  header.
- Edge tables (``pos_edge_input_path``, ``hard_neg_edge_input_path``): ``user_id<TAB>item_id
  <TAB>weight`` with an optional header line (a first line whose first cell is no integer).

Attr values are parsed like the input columns of the same name (their input_type and
default_val). Every problem names the file and line.
"""
from __future__ import annotations

import logging
import os
import re
from dataclasses import dataclass

import numpy as np
import pyarrow as pa

from easy_rec.input.fields import default_cell, field_dtype
from easy_rec.protos import dataset_pb2
from easy_rec.tables.convert import ColumnRule, convert_column
from easy_rec.tables.errors import InputError

logger = logging.getLogger(__name__)

HEADER_PREFIX = "id:"
_INTEGER = re.compile(r"[-+]?\d+")
_Field = dataset_pb2.DatasetConfig.Field


@dataclass
class ItemTable:
    """The items of a sampler: node ids and weights (first two columns) and attr columns."""

    ids: np.ndarray  # [items] int64
    weights: np.ndarray  # [items] float64, >= 0
    attrs: dict[str, np.ndarray]  # attr field -> [items] values of its input dtype

    def __len__(self) -> int:
        return int(self.ids.shape[0])


def _data_lines(path: str, role: str):
    """(line number, cells) of each data line of a tab separated table file."""
    if not os.path.isfile(path):
        raise InputError(f"{role} {path!r} is not a file")
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            line = line.rstrip("\r\n")
            if line.strip():
                yield number, line.split("\t")


def read_item_table(path: str, attr_fields: list[str], attr_delimiter: str,
                    input_fields: dict[str, _Field], role: str = "input_path") -> ItemTable:
    """The item table at `path`, attr values converted to their input fields' dtypes."""
    ids, weights, cells, numbers = [], [], [], []
    for number, row in _data_lines(path, role):
        if number == 1 and row[0].startswith(HEADER_PREFIX):
            continue
        if len(row) < 3:
            raise InputError(f"{path}:{number}: expected id, weight and attrs separated by tabs, "
                             f"found {len(row)} column(s)")
        values = row[-1].split(attr_delimiter)
        if len(values) != len(attr_fields):
            raise InputError(f"{path}:{number}: expected {len(attr_fields)} attrs separated by "
                             f"{attr_delimiter!r} (attr_fields), found {len(values)}")
        ids.append(_integer(row[0], path, number, "id"))
        weights.append(_weight(row[1], path, number))
        cells.append(values)
        numbers.append(number)
    if not numbers:
        raise InputError(f"{path}: the negative sampler's item table has no rows")
    attrs: dict[str, np.ndarray] = {}
    for k, name in enumerate(attr_fields):
        field = input_fields[name]
        rule = ColumnRule(name, field_dtype(field), default_cell(field))
        converted = convert_column(pa.array([row[k] for row in cells], pa.string()), rule)
        if not converted.valid.all():
            row = int(np.argmin(converted.valid))
            raise InputError(f"{path}:{numbers[row]}: attr {name}: value {cells[row][k]!r} is "
                             f"not a valid {rule.dtype.name}")
        attrs[name] = converted.values
    logger.info("negative sampler: read %d items from %s", len(numbers), path)
    return ItemTable(np.array(ids, np.int64), np.array(weights, np.float64), attrs)


def read_edges(path: str, role: str) -> tuple[np.ndarray, np.ndarray]:
    """([edges] user ids, [edges] item ids) of an edge table, in file order."""
    users, items = [], []
    for number, row in _data_lines(path, role):
        if number == 1 and not _INTEGER.fullmatch(row[0].strip()):
            continue  # header line
        if len(row) < 2:
            raise InputError(f"{path}:{number}: expected user id and item id separated by a tab")
        users.append(_integer(row[0], path, number, "user id"))
        items.append(_integer(row[1], path, number, "item id"))
    logger.info("negative sampler: read %d edges from %s", len(users), path)
    return np.array(users, np.int64), np.array(items, np.int64)


def _integer(text: str, path: str, number: int, what: str) -> int:
    if not _INTEGER.fullmatch(text.strip()):
        raise InputError(f"{path}:{number}: {what} {text!r} is not an integer")
    return int(text)


def _weight(text: str, path: str, number: int) -> float:
    try:
        weight = float(text)
    except ValueError:
        raise InputError(f"{path}:{number}: weight {text!r} is not a number") from None
    if not weight >= 0:
        raise InputError(f"{path}:{number}: weight {text!r} must be >= 0")
    return weight
