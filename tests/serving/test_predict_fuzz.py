"""Fuzz: generated malformed lines (random bytes, bytes that are not UTF-8, NUL bytes, wrong
column counts, embedded separators and quotes, huge numbers, carriage returns anywhere)
through batch prediction of CSV. Never a crash; with ignore_error every good row is scored
exactly and every bad row counted; a strict run names the first bad row's file:line."""
from __future__ import annotations

import random

import numpy as np
import pytest

from easy_rec.serving.batch_predict import batch_predict
from easy_rec.serving.options import PredictOptions
from easy_rec.tables.errors import RejectedRowError

SEED = 1414
LINES = 240
ANY_BYTE = [b for b in range(256) if b not in b",\n"]


def random_bytes(rng: random.Random, low: int, high: int) -> bytes:
    return bytes(rng.choice(ANY_BYTE) for _ in range(rng.randint(low, high)))


def good_row(rng: random.Random) -> tuple[list[bytes], tuple[bytes, int, np.float32]]:
    """Cells s, i, f of a valid row (blanks, signs, empty cells, any bytes in s) and the values
    the model must see (like the training reader, without carriage returns)."""
    s = random_bytes(rng, 0, 12)
    i = rng.randint(-(2**31), 2**31 - 1)
    f = np.float32(rng.uniform(-1e6, 1e6))
    i_cell = rng.choice(["{}", " {} ", "+{}" if i >= 0 else "{}"]).format(i).encode()
    f_cell = rng.choice([str(f), f" {f}", ""]).encode()
    if rng.random() < 0.1:
        i_cell, i = b"", 0
    return [s, i_cell, f_cell], (s.replace(b"\r", b""), i, np.float32(0) if not f_cell else f)


BAD_CELLS = [  # (column index, bad cell) of rows with the right column count
    lambda rng: (1, b"1\xff"),
    lambda rng: (1, b"\xfe" + random_bytes(rng, 0, 6)),
    lambda rng: (1, b"9" * rng.randint(11, 40)),
    lambda rng: (1, b"-" + b"9" * rng.randint(11, 40)),
    lambda rng: (1, b"1\x002"),
    lambda rng: (1, b'"7"'),
    lambda rng: (1, b"1.5"),
    lambda rng: (2, b"1.2.3"),
    lambda rng: (2, b"\x00"),
    lambda rng: (2, b"1e3\xc3"),
]


def bad_line(rng: random.Random, cells: list[bytes]) -> bytes:
    """A line made from a good row's cells that must be rejected."""
    kind = rng.randrange(len(BAD_CELLS) + 3)
    if kind < len(BAD_CELLS):
        index, cell = BAD_CELLS[kind](rng)
        cells = cells[:index] + [cell] + cells[index + 1:]
    elif kind == len(BAD_CELLS):
        cells = cells[:rng.randint(0, len(cells) - 1)]  # too few columns
    elif kind == len(BAD_CELLS) + 1:
        cells = cells[:1] + [b'"a,' + cells[0] + b'"'] + cells[1:]  # an embedded separator
    else:
        return b"\xff" + random_bytes(rng, 0, 30)  # one column of random bytes
    return b",".join(cells)


def fuzz_file(path) -> tuple[list[tuple[int, bytes, int, np.float32]], int, int]:
    """Writes the fuzz CSV (header id,s,i,f); returns the good rows (id, s, i, f), the number of
    bad rows and the line of the first bad one."""
    rng = random.Random(SEED)
    lines, good, bad, first_bad = [b"id,s,i,f"], [], 0, 0
    for row_id in range(LINES):
        cells, values = good_row(rng)
        if rng.random() < 0.05:
            lines.append(rng.choice([b"", b"\r"]))  # blank lines are skipped, not rows
        if rng.random() < 0.4:
            lines.append(str(row_id).encode() + b"," + bad_line(rng, cells))
            bad += 1
            first_bad = first_bad or len(lines)
        else:
            lines.append(b",".join([str(row_id).encode()] + cells))
            good.append((row_id, *values))
        if rng.random() < 0.1:
            lines[-1] += b"\r"  # CRLF line end
    path.write_bytes(b"\n".join(lines) + b"\n")
    return good, bad, first_bad


def fuzz_options(model: str, source, output, **overrides) -> PredictOptions:
    fields = dict(saved_model_dir=model, input_path=str(source), output_path=str(output),
                  reserved_cols=["id", "s"], with_header=True, chunk_rows=16, block_bytes=300,
                  batch_size=7, progress=False)
    return PredictOptions(**{**fields, **overrides})


def test_malformed_lines_are_counted_and_good_rows_scored(tiny_model, tmp_path):
    source, out = tmp_path / "fuzz.csv", tmp_path / "pred.csv"
    good, bad, _ = fuzz_file(source)
    assert len(good) > 100 and bad > 60
    summary = batch_predict(fuzz_options(tiny_model.path, source, out, ignore_error=True))
    assert (summary.rows_read, summary.rows_written, summary.rows_rejected) == \
        (len(good) + bad, len(good), bad)
    header, *rows = out.read_bytes().split(b"\n")[:-1]
    assert header == b"id,s,y"
    cells = [row.split(b",") for row in rows]
    assert [(int(c[0]), c[1]) for c in cells] == [(g[0], g[1]) for g in good]
    want = tiny_model.scores(*([g[k] for g in good] for k in (1, 2, 3)))
    np.testing.assert_array_equal(np.array([float(c[2]) for c in cells]), want)


def test_strict_run_names_the_first_bad_line(tiny_model, tmp_path):
    source = tmp_path / "fuzz.csv"
    _, _, first_bad = fuzz_file(source)
    with pytest.raises(RejectedRowError, match=f"^{source}:{first_bad}: "):
        batch_predict(fuzz_options(tiny_model.path, source, tmp_path / "out" / "pred.csv"))
    assert list((tmp_path / "out").iterdir()) == []
