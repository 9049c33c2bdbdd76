"""Batch prediction's output: a path that cannot be written stops the run before the model is
loaded or a row read; a run that rejects every row fails and writes nothing; output files get
the permissions of the user's umask."""
from __future__ import annotations

import os
import subprocess
import sys

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from conftest import REPO
from fs_helpers import make_read_only, make_writable, permission_run_kwargs

from easy_rec.serving.batch_predict import batch_predict
from easy_rec.serving.options import PredictOptions
from easy_rec.tables.errors import InputError, PredictError


def run_options(model_dir: str, source, output, **overrides) -> PredictOptions:
    fields = dict(saved_model_dir=model_dir, input_path=str(source), output_path=str(output),
                  with_header=True, progress=False)
    return PredictOptions(**{**fields, **overrides})


def assert_stops_before_work(tmp_path, output, reason: str) -> None:
    """The output error comes first: the SavedModel folder and the input do not even exist."""
    opts = run_options(str(tmp_path / "no_model"), tmp_path / "no_input.csv", output)
    with pytest.raises(InputError) as error:
        batch_predict(opts)
    message = str(error.value)
    assert message.startswith(f"output path {output}: ") and reason in message
    assert "\n" not in message


def test_output_under_a_file_fails_before_work(tmp_path):
    """Fails whoever runs it (root too): a folder cannot be made under a regular file."""
    (tmp_path / "plain").write_text("x")
    assert_stops_before_work(tmp_path, tmp_path / "plain" / "sub" / "pred.csv",
                             f"{tmp_path / 'plain'} is a file, not a folder")


def test_output_path_that_is_a_folder_fails_before_work(tmp_path):
    assert_stops_before_work(tmp_path, tmp_path, "is a folder")


def test_output_name_too_long_for_its_temporary_file_fails_before_work(tmp_path):
    """Fails whoever runs it: the file system refuses the probe file (named like the temporary
    output file, longer than the output's name) as it would refuse the output itself."""
    name = "p" * 250 + ".csv"
    assert_stops_before_work(tmp_path, tmp_path / name,
                             f"cannot write in {tmp_path}: File name too long")


@pytest.mark.slow
def test_read_only_output_folder_fails_before_work(tmp_path):
    """Through the CLI in a child process that obeys permission bits (root's child drops the
    capabilities that override them): one line naming the path, before any other work."""
    folder = tmp_path / "read_only"
    folder.mkdir()
    make_read_only(str(folder))
    try:
        run = subprocess.run(
            [sys.executable, "-m", "easy_rec.predict", "--saved_model_dir",
             str(tmp_path / "no_model"), "--input_path", str(tmp_path / "no_input.csv"),
             "--output_path", str(folder / "pred.csv")],
            capture_output=True, text=True, env=dict(os.environ, PYTHONPATH=REPO),
            **permission_run_kwargs(str(folder)))
    finally:
        make_writable(str(folder))
    assert run.returncode == 1, run.stderr
    assert (f"error: output path {folder / 'pred.csv'}: cannot write in {folder}: "
            "Permission denied") in run.stderr.splitlines()


@pytest.mark.parametrize("output_format", ["csv", "parquet"])
def test_output_files_get_the_umask_permissions(tiny_model, tmp_path, output_format):
    source = tmp_path / "in.csv"
    source.write_bytes(b"s,i,f\na,1,0.5\nb,2,1.5\n")
    old = os.umask(0o027)
    try:
        batch_predict(run_options(tiny_model.path, source, tmp_path / f"pred.{output_format}"))
    finally:
        os.umask(old)
    assert (tmp_path / f"pred.{output_format}").stat().st_mode & 0o777 == 0o640


def test_every_row_rejected_fails_and_writes_nothing(tiny_model, tmp_path):
    """In Python (Parquet: fractions for an int32 input) and on the command line (CSV: bad
    cells and a short row): an error instead of an output without rows."""
    parquet, out = tmp_path / "in.parquet", tmp_path / "out" / "pred.csv"
    pq.write_table(pa.table({"s": ["a", "b"], "i": [0.5, 1.5], "f": [1.0, 2.0]}), parquet)
    with pytest.raises(PredictError, match=f"^all 2 rows of {parquet} were rejected"):
        batch_predict(run_options(tiny_model.path, parquet, out, ignore_error=True))
    assert os.listdir(out.parent) == []
    csv = tmp_path / "in.csv"
    csv.write_bytes(b"s,i,f\na,x,1\nb,2\nc,3,y\n")
    run = subprocess.run(
        [sys.executable, "-m", "easy_rec.predict", "--no_progress", "--saved_model_dir",
         tiny_model.path, "--input_path", str(csv), "--output_path", str(out), "--with_header",
         "--ignore_error"],
        env=dict(os.environ, PYTHONPATH=REPO), capture_output=True, text=True)
    assert run.returncode == 1, run.stderr[-3000:]
    assert f"error: all 3 rows of {csv} were rejected" in run.stderr
    assert run.stdout == "" and os.listdir(out.parent) == []
