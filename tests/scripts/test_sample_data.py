"""Tests for the committed MovieLens sample and scripts/build_movielens_sample.py."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import REPO

REPO_ROOT = Path(REPO)
SCRIPT = REPO_ROOT / "scripts" / "build_movielens_sample.py"
DATA_DIR = REPO_ROOT / "samples" / "data"
ML_DIR = REPO_ROOT / ".." / "shared" / "data" / "ml-100k"
FILES = ("movielens_train.csv", "movielens_test.csv")
SEQ_FILES = ("movielens_seq_train.csv", "movielens_seq_test.csv")
NUM_COLUMNS = 11
SEQ_COLUMNS = 16  # label .. year, genre, top_rating, ts, hist_movie_ids, hist_genres


def _load_script():
    """Import the build script as a module (scripts/ is not a package)."""
    spec = importlib.util.spec_from_file_location("build_movielens_sample", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _rows(name: str) -> list[list[str]]:
    with open(DATA_DIR / name, encoding="utf-8", newline="") as handle:
        text = handle.read()
    assert text.endswith("\n") and "\r" not in text
    return [line.split("\t") for line in text[:-1].split("\n")]


@pytest.mark.skipif(not (ML_DIR / "u.data").is_file(), reason="MovieLens-100K not available")
def test_script_reproduces_committed_files(tmp_path):
    result = subprocess.run(
        [sys.executable, str(SCRIPT), "--out_dir", str(tmp_path)],
        capture_output=True, text=True, check=True, cwd=tmp_path,
    )  # fmt: skip
    assert "positive rate" in result.stdout
    for name in FILES + SEQ_FILES:
        assert (tmp_path / name).read_bytes() == (DATA_DIR / name).read_bytes(), name
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(FILES + SEQ_FILES)  # no temp left


@pytest.mark.parametrize("name", FILES)
def test_committed_file_sanity(name):
    rows = _rows(name)
    assert len(rows) > 1000
    for row in rows:
        assert len(row) == NUM_COLUMNS, row
        label, rating = row[0], int(row[3])
        assert label in ("0", "1")
        assert rating != 3
        assert (label == "1") == (rating >= 4)
        assert row[4] in ("0", "1")
        assert 0 <= int(row[5]) <= 6
        assert 0 <= int(row[6]) <= 20
        assert row[8] != ""
        assert row[9] != "" and all(row[9].split("|"))
        year = int(row[10])
        assert year == 0 or 1900 <= year <= 2000


def test_split_sizes_and_disjoint_rows():
    train, test = _rows(FILES[0]), _rows(FILES[1])
    total = len(train) + len(test)
    assert len(test) == round(total * 0.1)
    train_keys = {(r[1], r[2]) for r in train}
    test_keys = {(r[1], r[2]) for r in test}
    assert not train_keys & test_keys  # a (user, movie) pair is rated once


def test_helpers():
    script = _load_script()
    assert [script.age_bucket(a) for a in (7, 17, 18, 24, 25, 34, 35, 44, 45, 49, 50, 55, 56, 73)] \
        == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6]
    assert [script.rating_label(r) for r in (1, 2, 3, 4, 5)] == [0, 0, None, 1, 1]
    assert script.split_title("Toy Story (1995)", "01-Jan-1995") == ("Toy Story", 1995)
    assert script.split_title("Two Friends (1986) ", "") == ("Two Friends", 1986)
    assert script.split_title("Seven (Se7en) (1995)", "") == ("Seven (Se7en)", 1995)
    assert script.split_title("Land (1995) (V)", "") == ("Land (1995) (V)", 1995)
    assert script.split_title("No Year", "04-Feb-1971") == ("No Year", 1971)
    assert script.split_title("unknown", "") == ("unknown", 0)
    assert script.clean_text("a\tb\nc", sep=",") == "a b c"
    assert script.clean_text("a,b", sep=",") == "a b"
    train, test = script.split_rows([str(i) for i in range(20)], seed=1, test_ratio=0.1)
    assert len(train) == 18 and len(test) == 2
    assert sorted(train + test, key=int) == [str(i) for i in range(20)]
    assert (train, test) == script.split_rows([str(i) for i in range(20)], seed=1, test_ratio=0.1)



@pytest.mark.skipif(not (ML_DIR / "u.data").is_file(), reason="MovieLens-100K not available")
def test_sequence_tables_have_no_future_leakage():
    """Histories hold exactly the user's last 20 ratings strictly before the row's time; every
    test row is later than every train row."""
    train, test = _rows(SEQ_FILES[0]), _rows(SEQ_FILES[1])
    assert max(int(r[13]) for r in train) <= min(int(r[13]) for r in test)
    events: dict[str, list[tuple[int, int]]] = {}
    for line in (ML_DIR / "u.data").read_text().splitlines():
        user, movie, _, ts = line.split("\t")
        events.setdefault(user, []).append((int(ts), int(movie)))
    for row in train[:3000] + test[:3000]:
        assert len(row) == SEQ_COLUMNS, row
        assert row[12] == ("1" if row[3] == "5" else "0")
        hist = row[14].split(";") if row[14] else []
        genres = row[15].split(";") if row[15] else []
        assert len(hist) == len(genres) <= 20
        earlier = sorted(e for e in events[row[1]] if e[0] < int(row[13]))
        assert hist == [str(m) for _, m in earlier[-20:]]
