"""Runs EasyRec pipeline configs through easy_rec's validation and counts the outcomes.

Usage::

    python scripts/compat/check_easyrec_configs.py DIR_OR_FILE... [--details out.tsv]

Each config is parsed and validated as ``easy_rec.train --check_config_only`` does, except
that input paths and export asset files are not required to exist (the configs name their authors' data). Outcomes:

- ``pass``: the config validates;
- ``refused_platform``: refused with "is not supported" for a platform-only option;
- ``refused``: refused with "is not supported" for another reason;
- ``error``: another config error (a gap in compatibility, or a real mistake in the config);
- ``crash``: an exception other than a config error (a bug);
- ``invalid_in_easyrec`` (only with ``--easyrec_protos DIR``, a folder of EasyRec's .proto
  files): a config that EasyRec's own protos cannot parse either, failing at the same line as
  here (a stale form EasyRec itself no longer reads, e.g. backbone ``inputs { name: ... }``).

Prints one JSON line with the counts and the pass rate over the configs that neither depend
on a platform-only option nor are invalid in EasyRec; ``--details`` writes one tab-separated
line per config.
"""
from __future__ import annotations

import argparse
import glob
import json
import logging
import os
import sys

from google.protobuf import message_factory, text_format
from google.protobuf.message import Message

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from proto_diff import compile_easyrec_protos  # noqa: E402

from easy_rec.config.errors import ConfigError  # noqa: E402
from easy_rec.config.loader import load_pipeline_config  # noqa: E402
from easy_rec.export.config_checks import check_asset_files  # noqa: E402
from easy_rec.input.config_checks import check_input_paths  # noqa: E402
from easy_rec.pipeline.checks import PIPELINE_CHECKS  # noqa: E402

PLATFORM_MARK = "platform-only"
# the files a config names (data, export assets) belong to its authors: not looked for
CHECKS = tuple(check for check in PIPELINE_CHECKS
               if check is not check_input_paths and check is not check_asset_files)


OUTCOMES = ("pass", "refused_platform", "refused", "error", "crash", "invalid_in_easyrec")


def easyrec_config_class(proto_dir: str) -> type[Message]:
    """EasyRec's EasyRecConfig message class, compiled from the .proto files in `proto_dir`."""
    pool = compile_easyrec_protos(proto_dir)
    return message_factory.GetMessageClass(pool.FindMessageTypeByName("protos.EasyRecConfig"))


def easyrec_parse_error(path: str, easyrec_config: type[Message]) -> text_format.ParseError | None:
    """The error EasyRec's own loading (text_format.Merge) raises on the config, or None."""
    with open(path, encoding="utf-8") as f:
        text = f.read()
    try:
        text_format.Merge(text, easyrec_config())
    except text_format.ParseError as error:
        return error
    return None


def classify(path: str, easyrec_config: type[Message] | None = None) -> tuple[str, str]:
    """(outcome, message) for the config at `path`; with `easyrec_config` (EasyRec's
    EasyRecConfig class), an error that EasyRec's protos raise at the same line is
    invalid_in_easyrec."""
    try:
        load_pipeline_config(path, checks=CHECKS)
    except ConfigError as error:
        message = str(error)
        if "is not supported" in error.reason:
            return ("refused_platform" if PLATFORM_MARK in error.reason else "refused"), message
        theirs = easyrec_parse_error(path, easyrec_config) if easyrec_config else None
        if theirs is not None and theirs.GetLine() == error.line:
            return "invalid_in_easyrec", f"{message} | EasyRec's protos: {theirs}"
        return "error", message
    except Exception as error:  # noqa: BLE001 - a crash is what this tool reports
        return "crash", f"{type(error).__name__}: {error}"
    return "pass", ""


def config_files(paths: list[str]) -> list[str]:
    """The .config files named by `paths` (folders are listed, sorted)."""
    files: list[str] = []
    for path in paths:
        if os.path.isdir(path):
            files.extend(sorted(glob.glob(os.path.join(path, "*.config"))))
        else:
            files.append(path)
    return files


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("paths", nargs="+", help="config files or folders of *.config")
    parser.add_argument("--details", help="write 'outcome<TAB>file<TAB>message' lines here")
    parser.add_argument("--easyrec_protos", help="folder of EasyRec's .proto files: configs "
                        "they cannot parse either count as invalid_in_easyrec")
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    easyrec_config = easyrec_config_class(args.easyrec_protos) if args.easyrec_protos else None
    results = [(path, *classify(path, easyrec_config)) for path in config_files(args.paths)]
    counts = {kind: 0 for kind in OUTCOMES}
    for _, outcome, _ in results:
        counts[outcome] += 1
    if args.details:
        with open(args.details, "w", encoding="utf-8") as f:
            for path, outcome, message in results:
                f.write(f"{outcome}\t{os.path.basename(path)}\t{message}\n")
    portable = len(results) - counts["refused_platform"] - counts["invalid_in_easyrec"]
    print(json.dumps({"tool": "check_easyrec_configs", "configs": len(results), **counts,
                      "pass_rate_without_platform_only_or_invalid":
                          round(counts["pass"] / portable, 3) if portable else None}))
    return 0


if __name__ == "__main__":
    sys.exit(main())
