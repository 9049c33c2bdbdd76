#!/usr/bin/env python
"""Build the MovieLens-100K sample tables used by the example configs.

Joins ``u.data``, ``u.user`` and ``u.item`` of MovieLens-100K into one
tab-separated table without header, columns in this order::

    label, user_id, movie_id, rating, gender, age, job_id, zip_id, title, genres, year

label is 1 for rating >= 4 and 0 for rating <= 2; rating-3 rows are dropped.
The rows are shuffled with ``numpy.random.default_rng(seed).permutation`` and
split into ``movielens_train.csv`` and ``movielens_test.csv``.

It also writes the sequence tables ``movielens_seq_train.csv`` / ``movielens_seq_test.csv``
for behaviour-sequence, multi-task and matching models: the same columns followed by::

    genre, top_rating, ts, hist_movie_ids, hist_genres

genre is the index (in ``u.genre``) of the movie's first genre, top_rating is 1 for rating 5,
ts the rating's unix time.
The histories hold the user's last ``--max_hist`` rated movies (any rating) strictly before
``ts``, oldest first, ';'-separated, with each movie's first genre aligned in hist_genres; so
no row sees its own or a later rating. The split is by time: rows at or after the 90%
timestamp quantile are the test set (in time order); the train rows are shuffled.

Usage (from the repository root)::

    python scripts/build_movielens_sample.py
"""

from __future__ import annotations

import argparse
import logging
import os
import re
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path
from typing import NamedTuple

import numpy as np

logger = logging.getLogger("build_movielens_sample")

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_ML_DIR = REPO_ROOT / ".." / "shared" / "data" / "ml-100k"
DEFAULT_OUT_DIR = REPO_ROOT / "samples" / "data"
SEP = "\t"
SOURCE_ENCODING = "latin-1"
OUTPUT_ENCODING = "utf-8"
TRAIN_FILE = "movielens_train.csv"
TEST_FILE = "movielens_test.csv"
SEQ_TRAIN_FILE = "movielens_seq_train.csv"
SEQ_TEST_FILE = "movielens_seq_test.csv"
SEQ_SEP = ";"
COLUMNS = (
    "label", "user_id", "movie_id", "rating", "gender", "age",
    "job_id", "zip_id", "title", "genres", "year",
)  # fmt: skip

# Upper bounds (inclusive) of the MovieLens-1M age groups: <18, 18-24, 25-34, 35-44,
# 45-49, 50-55, 56+  ->  buckets 0..6.
AGE_BUCKET_UPPER = (17, 24, 34, 44, 49, 55)
TITLE_YEAR_RE = re.compile(r"^(.*?)\s*\((\d{4})\)\s*$")
ANY_YEAR_RE = re.compile(r"\((\d{4})\)")
DATE_YEAR_RE = re.compile(r"(\d{4})\s*$")


class User(NamedTuple):
    """Columns contributed by ``u.user``."""

    gender: int
    age: int
    job_id: int
    zip_id: str


class Movie(NamedTuple):
    """Columns contributed by ``u.item``."""

    title: str
    genres: str
    year: int


# --------------------------------------------------------------------------- parsing
def read_lines(path: Path) -> list[str]:
    """Non-empty lines of a latin-1 MovieLens file, without line terminators."""
    with open(path, encoding=SOURCE_ENCODING) as handle:
        return [line.rstrip("\r\n") for line in handle if line.strip()]


def age_bucket(age: int) -> int:
    """MovieLens-1M age group index (0..6) of an age in years."""
    for bucket, upper in enumerate(AGE_BUCKET_UPPER):
        if age <= upper:
            return bucket
    return len(AGE_BUCKET_UPPER)


def clean_text(text: str, sep: str = SEP) -> str:
    """Replace tabs, line breaks and the column separator with spaces."""
    for char in {"\t", "\r", "\n", sep}:
        text = text.replace(char, " ")
    return text.strip()


def split_title(raw_title: str, release_date: str) -> tuple[str, int]:
    """Return (title without trailing ' (year)', year from title or release date, else 0)."""
    title = raw_title.strip()
    match = TITLE_YEAR_RE.match(title)
    if match:
        return match.group(1), int(match.group(2))
    years = ANY_YEAR_RE.findall(title)
    if years:
        return title, int(years[-1])
    date_match = DATE_YEAR_RE.search(release_date)
    return title, int(date_match.group(1)) if date_match else 0


def load_occupations(path: Path) -> dict[str, int]:
    """Occupation name -> index in ``u.occupation``."""
    return {name.strip(): idx for idx, name in enumerate(read_lines(path))}


def load_genres(path: Path) -> list[str]:
    """Genre names ordered by their index in ``u.genre`` (``name|index`` lines)."""
    pairs = [line.split("|") for line in read_lines(path)]
    by_index = {int(idx): name for name, idx in pairs}
    return [by_index[i] for i in range(len(by_index))]


def load_users(path: Path, occupations: dict[str, int]) -> dict[int, User]:
    """``u.user`` (id|age|gender|occupation|zip) -> {user_id: User}."""
    users = {}
    for line in read_lines(path):
        user_id, age, gender, occupation, zip_code = line.split("|")
        if gender not in ("M", "F"):
            raise ValueError(f"unexpected gender {gender!r} for user {user_id}")
        users[int(user_id)] = User(
            gender=0 if gender == "M" else 1,
            age=age_bucket(int(age)),
            job_id=occupations[occupation],
            zip_id=clean_text(zip_code),
        )
    return users


def load_movies(path: Path, genre_names: Sequence[str], sep: str = SEP) -> dict[int, Movie]:
    """``u.item`` (id|title|release|video release|url|19 flags) -> {movie_id: Movie}."""
    movies = {}
    for line in read_lines(path):
        fields = line.split("|")
        flags = fields[5:]
        if len(flags) != len(genre_names):
            raise ValueError(
                f"movie {fields[0]}: {len(flags)} genre flags, expected {len(genre_names)}"
            )
        title, year = split_title(fields[1], fields[2])
        genres = [name for name, flag in zip(genre_names, flags) if flag.strip() == "1"]
        movies[int(fields[0])] = Movie(
            title=clean_text(title, sep),
            genres="|".join(genres) if genres else "unknown",
            year=year,
        )
    return movies


def rating_label(rating: int) -> int | None:
    """1 for rating >= 4, 0 for rating <= 2, None (drop) for rating 3."""
    if rating >= 4:
        return 1
    if rating <= 2:
        return 0
    return None


class Rating(NamedTuple):
    """One line of ``u.data``."""

    user_id: int
    movie_id: int
    rating: int
    ts: int


def load_tables(ml_dir: Path, sep: str = SEP) -> tuple[dict[int, User], dict[int, Movie], list[Rating]]:
    """Users, movies and ratings (in ``u.data`` order) of MovieLens-100K."""
    occupations = load_occupations(ml_dir / "u.occupation")
    users = load_users(ml_dir / "u.user", occupations)
    movies = load_movies(ml_dir / "u.item", load_genres(ml_dir / "u.genre"), sep)
    ratings = [Rating(*(int(v) for v in line.split("\t"))) for line in read_lines(ml_dir / "u.data")]
    return users, movies, ratings


def base_values(label: int, r: Rating, users: dict[int, User], movies: dict[int, Movie]) -> tuple:
    """The columns shared by both tables, in COLUMNS order."""
    user, movie = users[r.user_id], movies[r.movie_id]
    return (
        label, r.user_id, r.movie_id, r.rating, user.gender, user.age, user.job_id,
        user.zip_id, movie.title, movie.genres, movie.year,
    )  # fmt: skip


def build_rows(ml_dir: Path, sep: str = SEP) -> list[str]:
    """Joined output lines (without terminator), in ``u.data`` order."""
    users, movies, ratings = load_tables(ml_dir, sep)
    rows = []
    for r in ratings:
        label = rating_label(r.rating)
        if label is not None:
            rows.append(sep.join(str(v) for v in base_values(label, r, users, movies)))
    return rows


def first_genre(movie: Movie, genre_index: dict[str, int]) -> int:
    """Index of the first of a movie's '|'-joined genres (0, 'unknown', for none)."""
    return genre_index.get(movie.genres.split("|", 1)[0], 0)


def build_sequence_rows(ml_dir: Path, max_hist: int, sep: str = SEP) -> list[tuple[int, str]]:
    """(ts, line) per labelled rating, with the user's earlier history; in time order."""
    users, movies, ratings = load_tables(ml_dir, sep)
    genre_index = {name: i for i, name in enumerate(load_genres(ml_dir / "u.genre"))}
    by_user: dict[int, list[Rating]] = {}
    for r in sorted(ratings, key=lambda r: (r.ts, r.user_id, r.movie_id)):
        by_user.setdefault(r.user_id, []).append(r)
    rows = []
    for events in by_user.values():
        earlier = 0  # events[:earlier] have ts strictly before the current event
        for r in events:
            while events[earlier].ts < r.ts:
                earlier += 1
            label = rating_label(r.rating)
            if label is None:
                continue
            hist = [movies[e.movie_id] for e in events[max(earlier - max_hist, 0):earlier]]
            hist_ids = [e.movie_id for e in events[max(earlier - max_hist, 0):earlier]]
            movie = movies[r.movie_id]
            values = base_values(label, r, users, movies) + (
                first_genre(movie, genre_index), int(r.rating == 5), r.ts,
                SEQ_SEP.join(str(i) for i in hist_ids),
                SEQ_SEP.join(str(first_genre(m, genre_index)) for m in hist))
            rows.append((r.ts, sep.join(str(v) for v in values)))
    rows.sort(key=lambda item: item[0])
    return rows


def split_by_time(rows: Sequence[tuple[int, str]], seed: int,
                  test_ratio: float) -> tuple[list[str], list[str]]:
    """Rows at or after the (1 - test_ratio) timestamp quantile are test (in time order);
    the train rows are shuffled with ``default_rng(seed).permutation``."""
    stamps = np.array([ts for ts, _ in rows])
    cutoff = np.quantile(stamps, 1.0 - test_ratio)
    train = [line for ts, line in rows if ts < cutoff]
    test = [line for ts, line in rows if ts >= cutoff]
    order = np.random.default_rng(seed).permutation(len(train))
    return [train[i] for i in order], test


# --------------------------------------------------------------------------- output
def split_rows(
    rows: Sequence[str], seed: int, test_ratio: float
) -> tuple[list[str], list[str]]:
    """Shuffle with ``default_rng(seed).permutation``; the last ``round(n*ratio)`` rows are test."""
    if not 0.0 <= test_ratio < 1.0:
        raise ValueError(f"test_ratio must be in [0, 1), got {test_ratio}")
    order = np.random.default_rng(seed).permutation(len(rows))
    num_test = int(round(len(rows) * test_ratio))
    shuffled = [rows[i] for i in order]
    cut = len(rows) - num_test
    return shuffled[:cut], shuffled[cut:]


def write_atomic(path: Path, lines: Sequence[str]) -> None:
    """Write ``lines`` (each ended by '\\n') to ``path`` via a temp file and os.replace."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp_name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding=OUTPUT_ENCODING, newline="") as handle:
            handle.writelines(line + "\n" for line in lines)
            handle.flush()
            os.fsync(handle.fileno())
        os.chmod(tmp_name, 0o644)
        os.replace(tmp_name, path)
    except BaseException:
        if os.path.exists(tmp_name):
            os.remove(tmp_name)
        raise


def positive_rate(lines: Sequence[str], sep: str = SEP) -> float:
    """Fraction of lines whose first column (label) is '1'."""
    if not lines:
        return 0.0
    return sum(line.split(sep, 1)[0] == "1" for line in lines) / len(lines)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--ml_dir", type=Path, default=DEFAULT_ML_DIR,
        help="MovieLens-100K directory (default: ../shared/data/ml-100k from the repo root)",
    )  # fmt: skip
    parser.add_argument(
        "--out_dir", type=Path, default=DEFAULT_OUT_DIR,
        help="output directory (default: samples/data under the repo root)",
    )  # fmt: skip
    parser.add_argument("--seed", type=int, default=2026, help="shuffle seed")
    parser.add_argument("--test_ratio", type=float, default=0.1, help="fraction of rows for test")
    parser.add_argument("--max_hist", type=int, default=20,
                        help="longest behaviour history in the sequence tables")
    return parser.parse_args(argv)


def main(argv: Sequence[str] | None = None) -> int:
    """Build and write the train/test files; print row counts and positive rates."""
    args = parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    ml_dir = args.ml_dir.resolve()
    if not (ml_dir / "u.data").is_file():
        logger.error("MovieLens-100K not found in %s", ml_dir)
        return 1
    train, test = split_rows(build_rows(ml_dir), args.seed, args.test_ratio)
    seq_train, seq_test = split_by_time(
        build_sequence_rows(ml_dir, args.max_hist), args.seed, args.test_ratio)
    for name, lines in ((TRAIN_FILE, train), (TEST_FILE, test), (SEQ_TRAIN_FILE, seq_train),
                        (SEQ_TEST_FILE, seq_test)):
        path = args.out_dir / name
        write_atomic(path, lines)
        print(f"{path}: {len(lines)} rows, positive rate {positive_rate(lines):.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
