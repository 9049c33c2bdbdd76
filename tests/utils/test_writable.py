"""easy_rec.utils.writable: an output folder that cannot be written is found before work."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import REPO
from fs_helpers import make_read_only, make_writable, permission_run_kwargs

from easy_rec.utils.writable import NotWritableError, require_writable_dir, unwritable_reason


def test_missing_folder_is_created(tmp_path):
    path = str(tmp_path / "a" / "b")
    assert unwritable_reason(path) is None
    assert os.listdir(path) == []


def test_folder_under_a_regular_file_is_reported_with_role_and_path(tmp_path):
    (tmp_path / "file").write_text("x")
    path = str(tmp_path / "file" / "model")
    with pytest.raises(NotWritableError) as error:
        require_writable_dir(path, "model_dir")
    assert str(error.value) == f"model_dir {path} is not writable: Not a directory"


def test_read_only_folder_is_reported(tmp_path):
    folder = tmp_path / "ro"
    folder.mkdir()
    make_read_only(str(folder))
    try:
        kwargs = permission_run_kwargs(str(folder))
        code = ("from easy_rec.utils.writable import unwritable_reason; "
                f"print(unwritable_reason({str(folder)!r}))")
        run = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                             env=dict(os.environ, PYTHONPATH=REPO), **kwargs)
    finally:
        make_writable(str(folder))
    assert run.stdout.strip() == "Permission denied", run.stderr
    assert os.listdir(folder) == []
