"""scripts/generate_criteo_like.py: schema, per-column empty rates, determinism, Parquet copy."""
from __future__ import annotations

import importlib.util
import os
import re
import sys

import numpy as np
import pyarrow.parquet as pq
import pytest
from conftest import REPO

ROWS = 20_000
_spec = importlib.util.spec_from_file_location(
    "generate_criteo_like", os.path.join(REPO, "scripts", "generate_criteo_like.py"))
gen = importlib.util.module_from_spec(_spec)
sys.modules[_spec.name] = gen  # dataclasses look their module up while the file runs
_spec.loader.exec_module(gen)

pytestmark = pytest.mark.skipif(not os.path.exists(gen.DEFAULT_SAMPLE),
                                reason="the real Criteo sample (../shared/data) is not available")


@pytest.fixture(scope="module")
def generated(tmp_path_factory):
    """(text path, parquet path, rows as lists of cells) of a 20,000-row file, seed 7."""
    root = tmp_path_factory.mktemp("criteo")
    text, parquet = str(root / "a.txt"), str(root / "a.parquet")
    gen.write_criteo_like(text, ROWS, seed=7, parquet_path=parquet, chunk_rows=6000,
                          progress=False)
    with open(text, encoding="utf-8") as f:
        rows = [line.rstrip("\n").split("\t") for line in f]
    return text, parquet, rows


def real_rows() -> list[list[str]]:
    with open(gen.DEFAULT_SAMPLE, encoding="utf-8") as f:
        return [line.rstrip("\n").split("\t") for line in f]


def empty_rates(rows: list[list[str]]) -> np.ndarray:
    return (np.asarray(rows, dtype=object) == "").mean(axis=0).astype(float)


def test_schema(generated):
    _, _, rows = generated
    assert len(rows) == ROWS
    assert {len(r) for r in rows} == {40}
    assert {r[0] for r in rows} == {"0", "1"}
    ints = re.compile(r"^-?\d+$")
    hexes = re.compile(r"^[0-9a-f]{8}$")
    for row in rows[:2000]:
        assert all(c == "" or ints.match(c) for c in row[1:14])
        assert all(c == "" or hexes.match(c) for c in row[14:])


def test_empty_rates_and_label_rate_follow_the_sample(generated):
    _, _, rows = generated
    real = real_rows()
    np.testing.assert_allclose(empty_rates(rows), empty_rates(real), atol=0.02)
    real_ctr = np.mean([r[0] == "1" for r in real])
    assert np.mean([r[0] == "1" for r in rows]) == pytest.approx(real_ctr, abs=0.02)


def test_categorical_values_mix_sample_and_new_hashes(generated):
    _, _, rows = generated
    real_c3 = {r[16] for r in real_rows()} - {""}
    c3 = [r[16] for r in rows if r[16]]
    seen = np.mean([v in real_c3 for v in c3])
    assert 0.5 < seen < 0.95  # mostly resampled values, plus a long tail of new ones
    assert len(set(c3)) > len(real_c3)


def test_deterministic_with_a_seed(generated, tmp_path):
    text, _, _ = generated
    again, other = str(tmp_path / "b.txt"), str(tmp_path / "c.txt")
    gen.write_criteo_like(again, ROWS, seed=7, chunk_rows=6000, progress=False)
    gen.write_criteo_like(other, ROWS, seed=8, chunk_rows=6000, progress=False)
    with open(text, "rb") as a, open(again, "rb") as b, open(other, "rb") as c:
        first = a.read()
        assert first == b.read()
        assert first != c.read()


def test_parquet_holds_the_same_rows(generated):
    _, parquet, rows = generated
    table = pq.read_table(parquet)
    assert table.column_names == gen.COLUMNS
    assert table.num_rows == ROWS
    for name, index in (("label", 0), ("I5", 5), ("C3", 16), ("C22", 35)):
        cells = ["" if v is None else str(v) for v in table.column(name).to_pylist()]
        assert cells == [r[index] for r in rows]
