#!/usr/bin/env python
"""Build a sequence table from the Taobao UserBehavior head, in the MovieLens sequence schema.

One row per (user, item) the user viewed (`pv`), at the time of the first view. The label is 1
when the user also carted, favourited or bought that item (the positives among viewed items).
The history is the user's last ``--max_hist`` viewed items strictly before that time, with
their categories; ids are remapped to dense integers (items 1..N, categories 1..C, 0 unused).

The columns follow ``samples/data/movielens_seq_*.csv`` so the sequence models' sample configs
run unchanged apart from table sizes: ``movie_id`` holds the item, ``genre`` its category,
``genres`` the category as text, ``ts`` the time, ``hist_movie_ids`` / ``hist_genres`` the
histories; the MovieLens-only columns (rating, gender, age, job_id, zip_id, title, year,
top_rating) are constant. Rows at or after the 90% time quantile are the test set.

Usage: python scripts/build_taobao_sample.py --out_dir /tmp/taobao  (prints a JSON summary)
"""
from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
DEFAULT_SOURCE = REPO / ".." / "shared" / "data" / "taobao-userbehavior-head" / "UserBehavior_head.csv"
POSITIVE_BEHAVIOURS = ("cart", "fav", "buy")
SEQ_SEP = ";"
TRAIN_FILE, TEST_FILE = "taobao_seq_train.csv", "taobao_seq_test.csv"


def read_events(path: Path) -> list[tuple[int, int, int, str, int]]:
    """(user, item, category, behaviour, ts) rows of the UserBehavior file; a truncated last
    line (the head was cut from a larger file) is skipped."""
    events = []
    with open(path, newline="") as handle:
        for row in csv.reader(handle):
            if len(row) == 5 and row[4].isdigit():
                events.append((int(row[0]), int(row[1]), int(row[2]), row[3], int(row[4])))
    return events


def dense_ids(values: Sequence[int]) -> dict[int, int]:
    """Raw id -> 1..N in sorted order."""
    return {v: i + 1 for i, v in enumerate(sorted(set(values)))}


def build_rows(events, max_hist: int) -> tuple[list[tuple[int, str]], dict[str, int]]:
    """(ts, tab-separated line) per viewed (user, item), in time order; and table sizes."""
    items = dense_ids([e[1] for e in events])
    cats = dense_ids([e[2] for e in events])
    positives = {(u, i) for u, i, _, b, _ in events if b in POSITIVE_BEHAVIOURS}
    views: dict[int, list[tuple[int, int, int]]] = {}
    for user, item, cat, behaviour, ts in events:
        if behaviour == "pv":
            views.setdefault(user, []).append((ts, items[item], cats[cat]))
    rows, raw_item = [], {v: k for k, v in items.items()}
    for user, seen in views.items():
        seen.sort()
        first_view: dict[int, int] = {}
        for k, (_, item, _) in enumerate(seen):
            first_view.setdefault(item, k)
        for item, k in first_view.items():
            ts, _, cat = seen[k]
            earlier = [s for s in seen[:k] if s[0] < ts][-max_hist:]
            label = int((user, raw_item[item]) in positives)
            values = (label, user, item, 0, 0, 0, 0, "0", "", str(cat), 0, cat, 0, ts,
                      SEQ_SEP.join(str(s[1]) for s in earlier),
                      SEQ_SEP.join(str(s[2]) for s in earlier))
            rows.append((ts, "\t".join(str(v) for v in values)))
    rows.sort(key=lambda r: r[0])
    return rows, {"items": len(items), "categories": len(cats), "users": len(views)}


def write_split(rows: list[tuple[int, str]], out_dir: Path, test_ratio: float,
                seed: int) -> dict[str, int]:
    """Time split (test = rows at or after the quantile, in time order; train shuffled)."""
    cutoff = np.quantile([ts for ts, _ in rows], 1.0 - test_ratio)
    train = [line for ts, line in rows if ts < cutoff]
    test = [line for ts, line in rows if ts >= cutoff]
    train = [train[i] for i in np.random.default_rng(seed).permutation(len(train))]
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, lines in ((TRAIN_FILE, train), (TEST_FILE, test)):
        tmp = out_dir / f".{name}.tmp"
        tmp.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
        os.replace(tmp, out_dir / name)
    return {"train_rows": len(train), "test_rows": len(test),
            "train_positive_rate": round(sum(r[0] == "1" for r in train) / max(len(train), 1), 4),
            "test_positive_rate": round(sum(r[0] == "1" for r in test) / max(len(test), 1), 4)}


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--out_dir", type=Path, required=True)
    parser.add_argument("--max_hist", type=int, default=20)
    parser.add_argument("--test_ratio", type=float, default=0.1)
    parser.add_argument("--seed", type=int, default=2026)
    args = parser.parse_args(argv)
    if not args.source.is_file():
        print(f"Taobao UserBehavior head not found at {args.source}", file=sys.stderr)
        return 1
    rows, sizes = build_rows(read_events(args.source), args.max_hist)
    summary = {**sizes, **write_split(rows, args.out_dir, args.test_ratio, args.seed),
               "out_dir": str(args.out_dir)}
    print(json.dumps(summary))
    return 0


if __name__ == "__main__":
    sys.exit(main())
