#!/usr/bin/env python
"""Build the Excel feature workbooks in samples/excel/ (one per model type).

Each workbook describes the MovieLens sample table (samples/data/movielens_*.csv, columns
label, user_id, movie_id, rating, gender, age, job_id, zip_id, title, genres, year) in the
layout `python -m easy_rec.tools.create_config_from_excel` reads: sheets features, global,
group, types and basic_types. deepfm.xlsx and wide_and_deep.xlsx use the wide / deep groups,
multi_tower.xlsx and dssm.xlsx the user / item towers. The files are byte-for-byte
reproducible.

Usage (from the repository root)::

    python scripts/build_excel_templates.py             # (re)write samples/excel/*.xlsx
    python scripts/build_excel_templates.py --check     # exit 1 if a file is out of date
"""
from __future__ import annotations

import argparse
import logging
import os
import sys
import tempfile
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO_ROOT))

from easy_rec.tools.excel import layout  # noqa: E402
from easy_rec.tools.excel.writer import SheetData, write_workbook  # noqa: E402

logger = logging.getLogger("build_excel_templates")

DEFAULT_OUT_DIR = REPO_ROOT / "samples" / "excel"
YEAR_BOUNDARIES = "1930,1950,1960,1970,1980,1985,1990,1993,1995,1996,1997,1998"

# (name, data_type, type, wide/deep group, tower, global, hash_bucket_size, embedding_dim,
#  default_value, weights, boundaries) of each MovieLens column, in file order
MOVIELENS_COLUMNS = [
    ("label", "bigint", "label", "label", "label", None, None, None, None, None, None),
    ("user_id", "bigint", "category", "wide_and_deep", "user", "user_id", None, None, None, None,
     None),
    ("movie_id", "bigint", "category", "wide_and_deep", "item", "movie_id", None, None, None,
     None, None),
    ("rating", "bigint", "notneed", None, None, None, None, None, None, None, None),
    ("gender", "bigint", "category", "wide_and_deep", "user", None, 10, 16, None, None, None),
    ("age", "bigint", "category", "wide_and_deep", "user", None, 20, 16, None, None, None),
    ("job_id", "bigint", "category", "wide_and_deep", "user", None, 50, 16, None, None, None),
    ("zip_id", "string", "category", "deep", "user", None, 2000, 16, None, None, None),
    ("title", "string", "category", "deep", "item", None, 4000, 16, None, None, None),
    ("genres", "string", "tags", "wide_and_deep", "item", None, 100, 16, None, None, None),
    ("year", "bigint", "dense", "wide_and_deep", "item", None, None, 16, None, None,
     YEAR_BOUNDARIES),
]
# global sheet: name, type, hash_bucket_size, embedding_dim, default_value
GLOBAL_ROWS = [
    ("user_id", "category", 12000, 16, "0"),
    ("movie_id", "category", 6000, 16, "0"),
]
TEMPLATE_BASIC_TYPES = ("string", "bigint", "double", "float", "int", "bool")
WIDE_DEEP_MODELS = ("deepfm", "wide_and_deep")


def feature_rows(model_type: str) -> list[tuple]:
    """The features sheet rows of `model_type`'s template (query left empty)."""
    rows = []
    for (name, data_type, kind, wide_deep, tower, shared, buckets, dim, default, weights,
         boundaries) in MOVIELENS_COLUMNS:
        group = wide_deep if model_type in WIDE_DEEP_MODELS else tower
        rows.append((name, data_type, kind, group, shared, buckets, dim, default, weights,
                     boundaries, None))
    return rows


def template_sheets(model_type: str) -> list[SheetData]:
    """The five sheets of `model_type`'s template."""
    return [
        SheetData(layout.FEATURES, layout.FEATURE_COLUMNS, feature_rows(model_type)),
        SheetData(layout.GLOBAL, layout.GLOBAL_COLUMNS, [list(r) for r in GLOBAL_ROWS]),
        SheetData(layout.GROUP, [layout.LIST_COLUMNS[layout.GROUP]],
                  [[g] for g in layout.TEMPLATE_GROUPS[model_type]]),
        SheetData(layout.TYPES, [layout.LIST_COLUMNS[layout.TYPES]],
                  [[t] for t in layout.FEATURE_TYPES]),
        SheetData(layout.BASIC_TYPES, [layout.LIST_COLUMNS[layout.BASIC_TYPES]],
                  [[t] for t in TEMPLATE_BASIC_TYPES]),
    ]


def build(out_dir: Path) -> list[Path]:
    """Writes <out_dir>/<model_type>.xlsx for every model type; returns the paths."""
    paths = []
    for model_type in layout.MODEL_TYPES:
        path = out_dir / f"{model_type}.xlsx"
        write_workbook(str(path), template_sheets(model_type))
        logger.info("wrote %s", path)
        paths.append(path)
    return paths


def check(out_dir: Path) -> int:
    """0 when the files in `out_dir` equal freshly built ones, else 1 (naming them)."""
    with tempfile.TemporaryDirectory() as temp:
        stale = [p.name for p in build(Path(temp))
                 if not (out_dir / p.name).is_file()
                 or (out_dir / p.name).read_bytes() != p.read_bytes()]
    for name in stale:
        print(f"{out_dir / name}: out of date; run scripts/build_excel_templates.py",
              file=sys.stderr)
    return 1 if stale else 0


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out_dir", default=str(DEFAULT_OUT_DIR), help="output folder")
    parser.add_argument("--check", action="store_true",
                        help="compare with the files in --out_dir instead of writing")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    out_dir = Path(args.out_dir)
    if args.check:
        return check(out_dir)
    os.makedirs(out_dir, exist_ok=True)
    build(out_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
