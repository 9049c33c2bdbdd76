"""Files a config names by path (vocab_file, ...): one resolver for checks and training.

The order is EasyRec's: the path as written (absolute, or relative to the working directory,
which is all EasyRec tries), then, as this project's addition, relative to the folder of the
config file, so a config and its vocab files can be moved together.
"""
from __future__ import annotations

import os


def config_file_candidates(name: str, base_dir: str | None) -> list[str]:
    """Where `resolve_config_file` looks for `name`, in order."""
    if os.path.isabs(name):
        return [name]
    candidates = [os.path.abspath(name)]
    if base_dir:
        beside_config = os.path.abspath(os.path.join(base_dir, name))
        if beside_config not in candidates:
            candidates.append(beside_config)
    return candidates


def resolve_config_file(name: str, base_dir: str | None) -> str | None:
    """The first existing file among `config_file_candidates(name, base_dir)`, else None."""
    for candidate in config_file_candidates(name, base_dir):
        if os.path.isfile(candidate):
            return candidate
    return None


def config_base_dir(config_path: str) -> str | None:
    """Folder of the config file `config_path`, or None for text not read from a file."""
    if os.path.isfile(config_path):
        return os.path.dirname(os.path.abspath(config_path))
    return None


def asset_file_name(entry: str) -> str:
    """The path an export_config.asset_files entry names (EasyRec drops a leading '!')."""
    return entry[1:] if entry.startswith("!") else entry
