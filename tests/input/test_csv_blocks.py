"""CSV files read as blocks of lines: any block size gives the rows of a plain line-by-line
read, the decode_csv fast path and the cell-by-cell path give the same values, and line
numbers, malformed-row counts and batch sizes survive the blocking."""
from __future__ import annotations

import math

import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.input.csv_input import CSVInput
from easy_rec.input.line_parser import MALFORMED_KEY
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError

BLOCK_SIZES = [1, 7, 64, 4096, 1 << 20]
FIELDS = """
input_type: CSVInput
input_fields { input_name: "label" input_type: INT32 }
input_fields { input_name: "uid" input_type: STRING default_val: "none" }
input_fields { input_name: "price" input_type: FLOAT default_val: "-1.5" }
input_fields { input_name: "count" input_type: INT64 }
input_fields { input_name: "flag" input_type: BOOL }
input_fields { input_name: "ratio" input_type: DOUBLE }
"""
# cells in every accepted spelling: blanks, signs, exponents, inf/nan, bool words, empties
GOOD_ROWS = [
    ["1", "u1", "2.5", "7", "true", "0.25"],
    ["0", "", "", "", "", ""],
    [" 1 ", "long-" + "x" * 300, " 1e3 ", "+12", " TRUE ", "-inf"],
    ["-3", "u 4", ".5", "-9", "0", "nan"],
    ["2", "u5", "inf", " 8", "False", "1."],
]


def config(separator: str = ",", extra: str = "") -> dataset_pb2.DatasetConfig:
    data = dataset_pb2.DatasetConfig()
    text_format.Parse(FIELDS + extra, data)
    data.separator = separator
    return data


def write(path, rows: list[list[str]], separator: str = ",", ending: str = "\n",
          final_newline: bool = True) -> None:
    text = ending.join(separator.join(row) for row in rows)
    path.write_bytes((text + (ending if final_newline else "")).encode())


def read(reader: CSVInput, batch_size: int = 3, **kwargs) -> tuple[dict, list[int], int]:
    """(columns as python lists, batch sizes, malformed rows)."""
    columns: dict = {}
    sizes, malformed = [], 0
    for batch in reader.make_dataset(batch_size, **kwargs):
        malformed += int(batch.pop(MALFORMED_KEY))
        sizes.append(int(next(iter(batch.values())).shape[0]))
        for key, value in batch.items():
            columns.setdefault(key, []).extend(value.numpy().tolist())
    return columns, sizes, malformed


def expected(rows: list[list[str]]) -> dict:
    """The values the cell-by-cell rules give for GOOD_ROWS-like rows."""
    def number(text: str, default: float) -> float:
        return float(text) if text.strip() else default

    return {
        "label": [int(r[0]) for r in rows],
        "uid": [(r[1] or "none").encode() for r in rows],
        "price": [number(r[2], -1.5) for r in rows],
        "count": [int(r[3]) if r[3].strip() else 0 for r in rows],
        "flag": [r[4].strip().lower() in ("1", "true") for r in rows],
        "ratio": [number(r[5], 0.0) for r in rows],
    }


def in_row_order(columns: dict) -> dict:
    """The columns with their rows sorted by (label, uid)."""
    order = sorted(range(len(columns["label"])), key=lambda i: (columns["label"][i], columns["uid"][i]))
    return {name: [values[i] for i in order] for name, values in columns.items()}


def assert_columns_equal(actual: dict, wanted: dict) -> None:
    assert set(actual) == set(wanted)
    for name, values in wanted.items():
        got = actual[name]
        assert len(got) == len(values), name
        for a, b in zip(got, values):
            if isinstance(b, float) and math.isnan(b):
                assert math.isnan(a), name
            elif isinstance(b, float):
                assert a == pytest.approx(b, rel=1e-6), name
            else:
                assert a == b, name


@pytest.mark.parametrize("block_bytes", BLOCK_SIZES)
@pytest.mark.parametrize("ending,final_newline", [("\n", True), ("\r\n", True), ("\n", False)])
def test_any_block_size_reads_every_row_once(tmp_path, block_bytes, ending, final_newline):
    rows = GOOD_ROWS * 7
    path = tmp_path / "rows.csv"
    write(path, rows, ending=ending, final_newline=final_newline)
    columns, sizes, malformed = read(CSVInput(config(), str(path), block_bytes=block_bytes))
    assert_columns_equal(columns, expected(rows))
    assert malformed == 0
    assert sizes == [3] * 11 + [2]  # re-batched to the batch size across blocks


def test_fast_and_cell_by_cell_paths_agree(tmp_path):
    """A block with one malformed row goes cell by cell; its good rows must come out as
    they do from the all-valid block that takes the decode_csv path."""
    clean, dirty = tmp_path / "clean.csv", tmp_path / "dirty.csv"
    write(clean, GOOD_ROWS)
    write(dirty, GOOD_ROWS + [["1", "u", "x", "1", "1", "1"]])
    fast_reader = CSVInput(config(), str(clean))
    assert fast_reader.decodes_blocks
    fast, _, _ = read(fast_reader)
    slow, _, malformed = read(CSVInput(config(extra="ignore_error: true"), str(dirty)))
    assert malformed == 1
    assert_columns_equal(slow, fast)
    assert_columns_equal(fast, expected(GOOD_ROWS))


@pytest.mark.parametrize("block_bytes", [16, 1 << 20])
def test_line_numbers_count_across_blocks_and_files(tmp_path, block_bytes):
    write(tmp_path / "a.csv", GOOD_ROWS * 4)
    bad = GOOD_ROWS * 8
    bad[33] = ["1", "u", "2.5"]
    write(tmp_path / "b.csv", bad)
    reader = CSVInput(config(extra="with_header: false"), f"{tmp_path}/a.csv,{tmp_path}/b.csv",
                      block_bytes=block_bytes)
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"malformed CSV row at {tmp_path}/b.csv:34: expected 6 columns"):
        read(reader)


def test_header_is_skipped_in_every_file(tmp_path):
    header = ["label", "uid", "price", "count", "flag", "ratio"]
    for name in ("a", "b"):
        write(tmp_path / f"{name}.csv", [header] + GOOD_ROWS)
    reader = CSVInput(config(extra="with_header: true"), f"{tmp_path}/*.csv", block_bytes=32)
    columns, _, malformed = read(reader)
    # the blocks of the two files are interleaved: compare the rows in label, uid order
    assert_columns_equal(in_row_order(columns), in_row_order(expected(GOOD_ROWS * 2)))
    assert malformed == 0


@pytest.mark.parametrize("block_bytes", [8, 1 << 20])
def test_malformed_rows_are_counted_when_whole_blocks_are_bad(tmp_path, block_bytes):
    rows = [["oops"]] * 5 + GOOD_ROWS + [[]] * 4 + GOOD_ROWS + [["1", "u", "1", "1", "maybe", "1"]]
    path = tmp_path / "rows.csv"
    write(path, rows)
    reader = CSVInput(config(extra="ignore_error: true"), str(path), block_bytes=block_bytes)
    columns, sizes, malformed = read(reader, batch_size=4)
    assert malformed == 10
    assert_columns_equal(columns, expected(GOOD_ROWS * 2))
    assert sum(sizes) == 2 * len(GOOD_ROWS)


def test_multi_character_separator_is_parsed_cell_by_cell(tmp_path):
    path = tmp_path / "rows.txt"
    write(path, GOOD_ROWS * 3, separator="||")
    reader = CSVInput(config(separator="||"), str(path), block_bytes=50)
    assert not reader.decodes_blocks
    columns, _, _ = read(reader)
    assert_columns_equal(columns, expected(GOOD_ROWS * 3))


def test_shuffled_read_is_a_seeded_permutation(tmp_path):
    rows = [[str(i), f"u{i}", "1", str(i), "1", "1"] for i in range(500)]
    path = tmp_path / "rows.csv"
    write(path, rows)
    data = config(extra="shuffle_buffer_size: 64")
    first, sizes, _ = read(CSVInput(data, str(path), block_bytes=256), batch_size=50,
                           shuffle=True, seed=3)
    again, _, _ = read(CSVInput(data, str(path), block_bytes=256), batch_size=50,
                       shuffle=True, seed=3)
    assert sorted(first["count"]) == list(range(500))
    assert first["count"] != list(range(500))
    assert first["count"] == again["count"]
    assert sizes == [50] * 10


def test_invalid_default_val_is_an_input_error(tmp_path):
    path = tmp_path / "rows.csv"
    write(path, GOOD_ROWS)
    data = config()
    data.input_fields[3].default_val = "many"
    with pytest.raises(InputError, match=r"input field 'count': default_val 'many' is not a "
                                         r"valid int64"):
        CSVInput(data, str(path))
    data = config()
    data.input_fields[0].default_val = "2147483648"
    with pytest.raises(InputError, match=r"'label': default_val '2147483648' is not a valid int32"):
        CSVInput(data, str(path))


def test_empty_and_header_only_files_give_no_rows(tmp_path):
    header = ["label", "uid", "price", "count", "flag", "ratio"]
    (tmp_path / "a.csv").write_bytes(b"")
    write(tmp_path / "b.csv", [header], final_newline=False)
    write(tmp_path / "c.csv", [header] + GOOD_ROWS)
    reader = CSVInput(config(extra="with_header: false"), f"{tmp_path}/a.csv")
    assert read(reader)[0] == {}
    reader = CSVInput(config(extra="with_header: true"), f"{tmp_path}/c.csv,{tmp_path}/b.csv",
                      block_bytes=16)
    columns, _, malformed = read(reader)
    assert_columns_equal(columns, expected(GOOD_ROWS))
    assert malformed == 0


def test_integers_out_of_range_are_malformed_rows(tmp_path):
    rows = [["2147483647", "a", "1", "9223372036854775807", "1", "1"],
            ["-2147483648", "b", "1", "-9223372036854775808", "1", "1"],
            ["2147483648", "c", "1", "1", "1", "1"],
            ["1", "d", "1", "9223372036854775808", "1", "1"],
            ["1", "e", "1", "-0000000000000000000000012", "1", "1"]]
    path = tmp_path / "rows.csv"
    write(path, rows)
    columns, _, malformed = read(CSVInput(config(extra="ignore_error: true"), str(path)))
    assert malformed == 2
    assert columns["label"] == [2**31 - 1, -(2**31), 1]
    assert columns["count"] == [2**63 - 1, -(2**63), -12]
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"{path}:3: column label: value 2147483648 is not a valid int32"):
        read(CSVInput(config(), str(path)))
