"""easy_rec.utils.files: the one atomic output behind every file easy_rec writes whole."""
from __future__ import annotations

import os

import pytest

from easy_rec.utils.files import atomic_output, atomic_write_text


def test_success_renames_the_temp_file_into_place(tmp_path):
    out = tmp_path / "new" / "pred.csv"
    with atomic_output(str(out)) as temp_path:
        assert os.path.dirname(temp_path) == str(out.parent)
        assert os.path.basename(temp_path).startswith(".pred.csv.") and temp_path.endswith(".tmp")
        with open(temp_path, "w") as f:
            f.write("a\n")
        assert not out.exists()
    assert os.listdir(out.parent) == ["pred.csv"]
    assert out.read_text() == "a\n"


def test_output_gets_umask_permissions(tmp_path):
    old = os.umask(0o027)
    try:
        atomic_write_text(str(tmp_path / "x.txt"), "x")
    finally:
        os.umask(old)
    assert (tmp_path / "x.txt").stat().st_mode & 0o777 == 0o640


def test_error_leaves_no_temp_file_and_keeps_the_old_file(tmp_path):
    out = tmp_path / "pred.csv"
    out.write_text("old\n")
    with pytest.raises(RuntimeError, match="crash"), atomic_output(str(out)) as temp_path:
        with open(temp_path, "w") as f:
            f.write("partial")
        raise RuntimeError("crash")
    assert os.listdir(tmp_path) == ["pred.csv"]
    assert out.read_text() == "old\n"


def test_failed_write_leaves_nothing(tmp_path):
    with pytest.raises(AttributeError):
        atomic_write_text(str(tmp_path / "x.txt"), None)
    assert os.listdir(tmp_path) == []
