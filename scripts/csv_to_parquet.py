"""Converts a CSV file described by a pipeline config into a Parquet file.

    python scripts/csv_to_parquet.py --pipeline_config samples/deepfm_on_movielens.config \\
        --input samples/data/movielens_train.csv --output /tmp/movielens_train.parquet \\
        --row_group_size 10000 --list_columns 'genres=|,title= '

Columns are read as CSVInput reads them (data_config.separator, with_header, input_fields in
order) and written with the configured types (INT32 -> int32, INT64 -> int64, FLOAT -> float,
DOUBLE -> double, BOOL -> bool, STRING -> string). Empty cells become nulls, which the Parquet
reader replaces with the field's default_val, as the CSV reader does. --list_columns turns
delimited string columns into list<string> columns (a null cell stays a null list).
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Iterator

import pyarrow as pa
import pyarrow.parquet as pq

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from easy_rec.config.loader import load_pipeline_config  # noqa: E402
from easy_rec.protos import dataset_pb2  # noqa: E402

logger = logging.getLogger("csv_to_parquet")

_Types = dataset_pb2.DatasetConfig
ARROW_TYPES: dict[int, pa.DataType] = {
    _Types.INT32: pa.int32(),
    _Types.INT64: pa.int64(),
    _Types.FLOAT: pa.float32(),
    _Types.DOUBLE: pa.float64(),
    _Types.BOOL: pa.bool_(),
    _Types.STRING: pa.string(),
}


def _parse_bool(cell: str) -> bool:
    text = cell.strip().lower()
    if text not in ("1", "0", "true", "false"):
        raise ValueError(f"{cell!r} is not a bool")
    return text in ("1", "true")


PARSERS: dict[int, Callable[[str], object]] = {
    _Types.INT32: lambda c: int(c.strip()),
    _Types.INT64: lambda c: int(c.strip()),
    _Types.FLOAT: lambda c: float(c.strip()),
    _Types.DOUBLE: lambda c: float(c.strip()),
    _Types.BOOL: _parse_bool,
    _Types.STRING: lambda c: c,
}


def parse_list_columns(spec: str) -> dict[str, str]:
    """'genres=|,title= ' -> {'genres': '|', 'title': ' '} (the separator may be any text
    except ',')."""
    columns: dict[str, str] = {}
    for item in spec.split(",") if spec else []:
        name, eq, separator = item.partition("=")
        if not eq or not name.strip() or not separator:
            raise ValueError(f"--list_columns item {item!r} is not name=separator")
        columns[name.strip()] = separator
    return columns


def _rows(path: str, separator: str, with_header: bool) -> Iterator[tuple[int, list[str]]]:
    with open(path, encoding="utf-8") as f:
        for number, line in enumerate(f, start=1):
            if with_header and number == 1:
                continue
            yield number, line.rstrip("\r\n").split(separator)


def _column_positions(path: str, data_config, names: list[str]) -> dict[str, int]:
    if not data_config.with_header:
        return {name: i for i, name in enumerate(names)}
    with open(path, encoding="utf-8") as f:
        header = f.readline().rstrip("\r\n").split(data_config.separator)
    missing = [n for n in names if n not in header]
    if missing:
        raise ValueError(f"{path}: header has no column {', '.join(missing)}")
    return {name: header.index(name) for name in names}


def read_columns(path: str, data_config, list_columns: dict[str, str]) -> dict[str, list]:
    """The CSV's input_fields as Python lists (None for empty cells; lists for list columns)."""
    fields = list(data_config.input_fields)
    positions = _column_positions(path, data_config, [f.input_name for f in fields])
    width = None if data_config.with_header else len(fields)
    columns: dict[str, list] = {f.input_name: [] for f in fields}
    for number, cells in _rows(path, data_config.separator, data_config.with_header):
        if width is not None and len(cells) != width:
            raise ValueError(f"{path}:{number}: expected {width} columns, found {len(cells)}")
        for field in fields:
            cell = cells[positions[field.input_name]]
            columns[field.input_name].append(_convert(cell, field, list_columns, path, number))
    return columns


def _convert(cell: str, field, list_columns: dict[str, str], path: str, number: int) -> object:
    if cell == "":
        return None
    if field.input_name in list_columns:
        return cell.split(list_columns[field.input_name])
    try:
        return PARSERS[field.input_type](cell)
    except ValueError:
        type_name = _Types.FieldType.Name(field.input_type)
        raise ValueError(f"{path}:{number}: column {field.input_name}: value {cell!r} is not a "
                         f"valid {type_name}") from None


def to_table(columns: dict[str, list], data_config, list_columns: dict[str, str]) -> pa.Table:
    """Arrow table with the configured types (list<string> for list columns)."""
    arrays, names = [], []
    for field in data_config.input_fields:
        if field.input_name in list_columns:
            arrow_type = pa.list_(pa.string())
        else:
            arrow_type = ARROW_TYPES[field.input_type]
        arrays.append(pa.array(columns[field.input_name], type=arrow_type))
        names.append(field.input_name)
    return pa.Table.from_arrays(arrays, names=names)


def convert(pipeline_config: str, input_path: str, output_path: str, row_group_size: int,
            list_columns: dict[str, str]) -> pa.Table:
    """Writes `input_path` (CSV) to `output_path` (Parquet); returns the written table."""
    data_config = load_pipeline_config(pipeline_config).config.data_config
    unknown = set(list_columns) - {f.input_name for f in data_config.input_fields}
    if unknown:
        raise ValueError(f"--list_columns names unknown input fields: {', '.join(sorted(unknown))}")
    table = to_table(read_columns(input_path, data_config, list_columns), data_config, list_columns)
    pq.write_table(table, output_path, row_group_size=row_group_size)
    logger.info("wrote %d rows in row groups of %d to %s", table.num_rows, row_group_size,
                output_path)
    return table


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--pipeline_config", required=True,
                        help="config whose data_config describes the CSV")
    parser.add_argument("--input", required=True, help="CSV file")
    parser.add_argument("--output", required=True, help="Parquet file to write")
    parser.add_argument("--row_group_size", type=int, default=65536, help="rows per row group")
    parser.add_argument("--list_columns", default="",
                        help="name=separator,... : delimited string columns to write as lists")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    try:
        convert(args.pipeline_config, args.input, args.output, args.row_group_size,
                parse_list_columns(args.list_columns))
    except ValueError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
