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
    assert counts["pass_rate_without_platform_only"] == 0.5
    outcomes = dict(line.split("\t")[1::-1][:2] for line in details.read_text().splitlines())
    assert outcomes == {"good.config": "pass", "platform.config": "refused_platform",
                        "typo.config": "error"}
