"""scripts/compat: the refused-options table in docs/compatibility.md is current, and the
config checker classifies refusals, errors and passes."""
from __future__ import annotations

import json
import os
import subprocess
import sys

from conftest import REPO

COMPAT = os.path.join(REPO, "scripts", "compat")


def test_compatibility_doc_lists_every_refused_option():
    result = subprocess.run([sys.executable, os.path.join(COMPAT, "compat_table.py"), "--check"],
                            capture_output=True, text=True)
    assert result.returncode == 0, result.stdout + result.stderr


def test_check_easyrec_configs_counts_outcomes(tmp_path):
    with open(os.path.join(REPO, "samples", "deepfm_on_movielens.config"), encoding="utf-8") as f:
        good = f.read()
    (tmp_path / "good.config").write_text(good)
    (tmp_path / "platform.config").write_text(
        good.replace("input_type: CSVInput", "input_type: OdpsInputV2"))
    (tmp_path / "typo.config").write_text(good.replace("model_dir:", "model_dirr:"))
    details = tmp_path / "details.tsv"
    result = subprocess.run([sys.executable, os.path.join(COMPAT, "check_easyrec_configs.py"),
                             str(tmp_path), "--details", str(details)],
                            capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert (counts["configs"], counts["pass"], counts["refused_platform"], counts["error"]) \
        == (3, 1, 1, 1)
    assert counts["pass_rate_without_platform_only_or_invalid"] == 0.5
    outcomes = dict(line.split("\t")[1::-1][:2] for line in details.read_text().splitlines())
    assert outcomes == {"good.config": "pass", "platform.config": "refused_platform",
                        "typo.config": "error"}


def test_configs_easyrec_cannot_parse_either_are_invalid_in_easyrec(tmp_path):
    # a stand-in for EasyRec's protos that knows model_dir only: a field easy_rec does not know
    # either, on the line where EasyRec's protos fail, makes the config invalid in EasyRec
    protos = tmp_path / "protos"
    protos.mkdir()
    (protos / "pipeline.proto").write_text('syntax = "proto2";\npackage protos;\n'
                                           "message EasyRecConfig { optional string model_dir = 5; }\n")
    configs = tmp_path / "configs"
    configs.mkdir()
    with open(os.path.join(REPO, "samples", "deepfm_on_movielens.config"), encoding="utf-8") as f:
        good = f.read()
    (configs / "stale.config").write_text("old_field: 1\n" + good)
    (configs / "typo.config").write_text(good.replace("model_dir:", "model_dirr:"))
    details = tmp_path / "details.tsv"
    result = subprocess.run([sys.executable, os.path.join(COMPAT, "check_easyrec_configs.py"),
                             str(configs), "--details", str(details), "--easyrec_protos",
                             str(protos)], capture_output=True, text=True, cwd=REPO)
    assert result.returncode == 0, result.stderr
    counts = json.loads(result.stdout.strip().splitlines()[-1])
    assert (counts["invalid_in_easyrec"], counts["error"]) == (1, 1)
    assert counts["pass_rate_without_platform_only_or_invalid"] == 0.0
    outcomes = dict(line.split("\t")[1::-1][:2] for line in details.read_text().splitlines())
    assert outcomes == {"stale.config": "invalid_in_easyrec", "typo.config": "error"}
