"""Generated malformed lines through the CSV reader (block and cell-by-cell paths) and the
Kafka message parser: never a crash, good rows kept exactly, bad rows counted or named."""
from __future__ import annotations

import random
from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf

from easy_rec.input.csv_input import CSVInput
from easy_rec.input.kafka_input import KEY_KEY, OFFSETS_KEY, message_parser, parse_messages
from easy_rec.input.line_parser import MALFORMED_KEY, pack_row_id
from easy_rec.protos import dataset_pb2

SEED = 2026
# label INT32, uid STRING, price FLOAT (default -1.5), count INT64
DEFAULT_PRICE = -1.5
INT32 = (-(2**31), 2**31 - 1)
INT64 = (-(2**63), 2**63 - 1)
# what goes wrong in a generated bad row
BAD_KINDS = ("random bytes", "too few columns", "too many columns", "int32 overflow",
             "int64 overflow", "separator in a string", "quoted number", "NUL in a number",
             "non-UTF-8 number", "empty line")


@dataclass
class Row:
    """One generated line and, for a good row, the values it must parse to."""

    cells: list[bytes] | None  # None: `raw` is the whole line
    raw: bytes = b""
    bad: str = ""  # the kind of damage; "" for a good row

    def line(self, separator: bytes) -> bytes:
        return self.raw if self.cells is None else separator.join(self.cells)


def data_config(separator: str, ignore_error: bool) -> dataset_pb2.DatasetConfig:
    config = dataset_pb2.DatasetConfig(separator=separator, ignore_error=ignore_error)
    types = dataset_pb2.DatasetConfig
    for name, kind in (("label", types.INT32), ("uid", types.STRING), ("price", types.FLOAT),
                       ("count", types.INT64)):
        config.input_fields.add(input_name=name, input_type=kind)
    config.input_fields[2].default_val = str(DEFAULT_PRICE)
    return config


class RowMaker:
    """Good and bad rows from a seeded generator; `avoid` bytes never occur in string cells."""

    def __init__(self, seed: int, avoid: bytes):
        self.rng = random.Random(seed)
        self._text = bytes(b for b in range(256) if b not in avoid)

    def _bytes(self, count: int) -> bytes:
        return bytes(self.rng.choice(self._text) for _ in range(count))

    def _int(self, low: int, high: int) -> bytes:
        value = self.rng.choice([low, high, 0, self.rng.randint(low, high)])
        return self.rng.choice(["{}", " {} ", "+{}" if value >= 0 else "{}"]).format(value).encode()

    def good(self) -> Row:
        price = self.rng.choice([b"", str(self.rng.randint(-2**23, 2**23) / 8).encode(),
                                 b"1e400", b"-1e400", b".5", b"3."])
        return Row([self._int(*INT32) if self.rng.random() < 0.9 else b"",
                    self._bytes(self.rng.randint(0, 12)), price,
                    self._int(*INT64) if self.rng.random() < 0.9 else b""])

    def bad(self, kind: str, separator: bytes) -> Row:
        cells = list(self.good().cells)
        if kind == "random bytes":
            return Row(None, self._bytes(self.rng.randint(1, 40)), kind)
        if kind == "empty line":
            return Row(None, b"", kind)
        if kind == "too few columns":
            del cells[self.rng.randrange(4)]
        elif kind == "too many columns":
            cells.insert(self.rng.randrange(5), self._bytes(3))
        elif kind == "int32 overflow":
            cells[0] = str(self.rng.choice([2**31, -(2**31) - 1, 10**30])).encode()
        elif kind == "int64 overflow":
            cells[3] = str(self.rng.choice([2**63, -(2**63) - 1, 10**40])).encode()
        elif kind == "separator in a string":
            cells[1] = b'"a' + separator + b'b"'
        elif kind == "quoted number":
            cells[2] = b'"1.5"'
        elif kind == "NUL in a number":
            cells[0] = b"1\x002"
        elif kind == "non-UTF-8 number":
            cells[2] = b"1\xff5"
        return Row(cells, bad=kind)

    def rows(self, count: int, separator: bytes) -> list[Row]:
        """`count` rows, a tenth of them bad (every kind at least once)."""
        kinds = list(BAD_KINDS) + [self.rng.choice(BAD_KINDS) for _ in range(count // 10 - 10)]
        rows = [self.good() for _ in range(count - len(kinds))]
        for kind in kinds:
            rows.insert(self.rng.randrange(len(rows) + 1), self.bad(kind, separator))
        return rows


def _number(cell: bytes, default: float | int, parse) -> float | int:
    return parse(cell.strip()) if cell.strip() else default


def expected_columns(rows: list[Row]) -> dict[str, list]:
    good = [r.cells for r in rows if not r.bad]
    return {
        "label": [_number(c[0], 0, int) for c in good],
        "uid": [c[1] for c in good],
        "price": np.float32([_number(c[2], DEFAULT_PRICE, float) for c in good]).tolist(),
        "count": [_number(c[3], 0, int) for c in good],
    }


def columns_of(batches) -> dict[str, list]:
    out: dict[str, list] = {}
    for batch in batches:
        for key, value in batch.items():
            out.setdefault(key, []).extend(np.asarray(value).reshape(-1).tolist())
    return out


def write_rows(path, rows: list[Row], separator: bytes) -> None:
    path.write_bytes(b"".join(r.line(separator) + b"\n" for r in rows))


# ------------------------------------------------------------------ CSV reader
@pytest.mark.parametrize("separator, fast", [(",", True), ("||", False)])
def test_csv_reader_keeps_good_rows_and_counts_bad_ones(tmp_path, separator, fast):
    sep = separator.encode()
    rows = RowMaker(SEED, avoid=b"\n\r" + sep).rows(300, sep)
    path = tmp_path / "fuzz.csv"
    write_rows(path, rows, sep)
    # small blocks: with ",", blocks of good rows only take the decode_csv path, the others
    # the cell-by-cell one; "||" always goes cell by cell
    reader = CSVInput(data_config(separator, ignore_error=True), str(path), block_bytes=256)
    assert reader.decodes_blocks == fast
    got = columns_of(reader.make_dataset(32))
    assert sum(got.pop(MALFORMED_KEY)) == sum(1 for r in rows if r.bad)
    assert got == expected_columns(rows)

    good_only = tmp_path / "good.csv"
    write_rows(good_only, [r for r in rows if not r.bad], sep)
    strict = CSVInput(data_config(separator, ignore_error=False), str(good_only), block_bytes=256)
    got = columns_of(strict.make_dataset(32))
    assert sum(got.pop(MALFORMED_KEY)) == 0
    assert got == expected_columns(rows)


def test_csv_reader_names_every_kind_of_bad_row_in_strict_mode(tmp_path):
    maker = RowMaker(SEED, avoid=b"\n\r,")
    prefix = [maker.good() for _ in range(20)]
    for kind in BAD_KINDS:
        path = tmp_path / f"{kind.replace(' ', '_')}.csv"
        write_rows(path, prefix + [maker.bad(kind, b","), maker.good()], b",")
        reader = CSVInput(data_config(",", ignore_error=False), str(path), block_bytes=128)
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            columns_of(reader.make_dataset(8))
        message = info.value.message
        assert f"malformed CSV row at {path}:21: " in message, (kind, message)


# ------------------------------------------------------------------ Kafka message parser
def _message_batch(parser, rows: list[Row], separator: bytes, partitions: int):
    """Parses `rows` as messages spread over `partitions`, the way KafkaInput hands them over
    (values without their line end; row ids pack partition index and offset)."""
    index = np.arange(len(rows)) % partitions
    offsets = np.arange(len(rows)) // partitions
    values = [r.line(separator).rstrip(b"\r\n") for r in rows]
    keys = [str(i).encode() for i in range(len(rows))]
    return parse_messages(parser, tf.constant(keys), tf.constant(values),
                          pack_row_id(index, offsets), tf.constant(offsets[-partitions:]))


def test_kafka_parser_keeps_good_messages_and_counts_bad_ones():
    # a message value is one line, but it may hold a newline or CR inside a string cell
    rows = RowMaker(SEED + 1, avoid=b",").rows(200, b",")
    config = data_config(",", ignore_error=True)
    places = ["topic t partition 0", "topic t partition 1"]
    batch = _message_batch(message_parser(config, places), rows, b",", 2)
    assert int(batch.pop(MALFORMED_KEY)) == sum(1 for r in rows if r.bad)
    keys = batch.pop(KEY_KEY).numpy().tolist()
    assert keys == [str(i).encode() for i, r in enumerate(rows) if not r.bad]
    batch.pop(OFFSETS_KEY)
    assert columns_of([batch]) == expected_columns(rows)


def test_kafka_parser_names_partition_and_offset_in_strict_mode():
    maker = RowMaker(SEED + 2, avoid=b"\n\r,")
    parser = message_parser(data_config(",", ignore_error=False),
                            ["topic t partition 0", "topic t partition 1"])
    for position, kind in enumerate(BAD_KINDS):
        rows = [maker.good() for _ in range(6)]
        rows.insert(position % 6, maker.bad(kind, b","))
        with pytest.raises(tf.errors.InvalidArgumentError) as info:
            _message_batch(parser, rows, b",", 2)
        where = f"partition {position % 6 % 2} offset {position % 6 // 2}"
        assert f"malformed CSV row at topic t {where}: " in info.value.message, kind
