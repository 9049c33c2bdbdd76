"""The small JSON file every export carries (assets.extra/easy_rec_export.json; TensorFlow
Serving ignores it): {"global_step": N, "multi_value_separators": {column: separator}}, the
step of the checkpoint the export was made from, and the separator joining the values of each
multi-value input in the input files (batch prediction reads such files)."""
from __future__ import annotations

import json
import os

EXPORT_INFO = os.path.join("assets.extra", "easy_rec_export.json")
MULTI_VALUE_KEY = "multi_value_separators"


def write_export_info(export_path: str, global_step: int, separators: dict[str, str]) -> None:
    """Writes the export's info file."""
    os.makedirs(os.path.dirname(os.path.join(export_path, EXPORT_INFO)), exist_ok=True)
    with open(os.path.join(export_path, EXPORT_INFO), "w", encoding="utf-8") as f:
        json.dump({"global_step": int(global_step), MULTI_VALUE_KEY: separators}, f)


def _read(export_path: str) -> dict | None:
    try:
        with open(os.path.join(export_path, EXPORT_INFO), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


def exported_step(export_path: str) -> int | None:
    """The global step an export was made from; None for an export without EXPORT_INFO."""
    info = _read(export_path)
    return None if info is None else int(info["global_step"])


def multi_value_separators(export_path: str) -> dict[str, str]:
    """Multi-value input of an export -> the separator joining its values in input files."""
    return (_read(export_path) or {}).get(MULTI_VALUE_KEY, {})
