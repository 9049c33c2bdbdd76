"""The command lines of the entry points: help without TensorFlow, flags, defaults, console."""
from __future__ import annotations

import collections
import json
import os
import re
import subprocess
import sys

import pytest
from conftest import REPO, SAMPLES, sample_rows

from easy_rec import cli

# (module, arguments before --help, program name in the usage line)
ENTRY_POINTS = [
    ("easy_rec.train", [], "python -m easy_rec.train"),
    ("easy_rec.eval", [], "python -m easy_rec.eval"),
    ("easy_rec.export", [], "python -m easy_rec.export"),
    ("easy_rec.predict", [], "python -m easy_rec.predict"),
    ("easy_rec.serve", [], "python -m easy_rec.serve"),
    ("easy_rec.hpo", [], "python -m easy_rec.hpo"),
    ("easy_rec.hpo", ["report"], "python -m easy_rec.hpo report"),
    ("easy_rec.tools.create_config_from_excel", [],
     "python -m easy_rec.tools.create_config_from_excel"),
    ("easy_rec.tools.dump_item_embeddings", [], "python -m easy_rec.tools.dump_item_embeddings"),
    ("easy_rec.tools.load_features", [], "python -m easy_rec.tools.load_features"),
    ("easy_rec.tools.read_kafka", [], "python -m easy_rec.tools.read_kafka"),
    ("easy_rec.tools.write_kafka", [], "python -m easy_rec.tools.write_kafka"),
    ("easy_rec.distribute.launch", [], "python -m easy_rec.distribute.launch"),
]

# Runs `python -m <module> <args> --help` in this process, then says whether TensorFlow was
# imported.
HELP_SCRIPT = """
import runpy, sys
module, sys.argv = sys.argv[1], ["x", *sys.argv[2:]]
try:
    runpy.run_module(module, run_name="__main__")
except SystemExit as done:
    assert done.code in (0, None), done.code
print("tensorflow imported:", "tensorflow" in sys.modules)
"""
# A line of easy_rec's own log format, from one of its loggers.
OWN_LINE = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (DEBUG|INFO|WARNING|ERROR) "
                      r"easy_rec[.:]")
ENV = dict(os.environ, PYTHONPATH=REPO)
ENV.pop("TF_CPP_MIN_LOG_LEVEL", None)


@pytest.mark.parametrize("module,args,prog", ENTRY_POINTS,
                         ids=[" ".join([m, *a]) for m, a, _ in ENTRY_POINTS])
def test_help_is_given_without_importing_tensorflow(module, args, prog):
    run = subprocess.run([sys.executable, "-c", HELP_SCRIPT, module, *args, "--help"],
                         env=ENV, capture_output=True, text=True, cwd=REPO)
    assert run.returncode == 0, run.stderr[-3000:]
    assert run.stdout.startswith(f"usage: {prog} "), run.stdout[:200]
    assert "--verbose" in run.stdout
    assert run.stdout.strip().endswith("tensorflow imported: False")


def _help(module: str) -> str:
    import importlib

    return importlib.import_module(module).build_parser().format_help()


def test_each_command_lists_only_the_input_flags_that_apply():
    train, evaluate, export = (_help(m) for m in ("easy_rec.train", "easy_rec.eval",
                                                  "easy_rec.export.__main__"))
    assert "--train_input_path" in train and "--eval_input_path" in train
    assert "--train_input_path" not in evaluate and "--eval_input_path" in evaluate
    assert "--train_input_path" not in export and "--eval_input_path" not in export


def test_help_shows_defaults():
    text = " ".join(_help("easy_rec.predict").split())
    assert "rows per model call (default: 1024)" in text
    assert "(default: 65536)" in text
    # an option without a default value, or whose help tells its default, gets no "(default: X)"
    assert "--reserved_cols RESERVED_COLS input columns copied to the output, comma " \
           "separated --output_cols" in text
    assert "(default: None)" not in text and "(default: False)" not in text
    assert "default: all) (default" not in text


def test_flags_of_a_command_apply_to_the_config():
    parser = cli.build_parser("easy_rec.eval", None)
    cli.add_config_arguments(parser, inputs=["eval_input_path"])
    args = parser.parse_args(["--pipeline_config", os.path.join(SAMPLES,
                                                                "deepfm_on_movielens.config"),
                              "--model_dir", "/tmp/m", "--eval_input_path", "e.csv"])
    config = cli.load_config(args).config
    assert (config.model_dir, config.eval_input_path) == ("/tmp/m", "e.csv")
    assert config.train_input_path != "e.csv"


@pytest.mark.slow
def test_console_holds_easy_rec_lines_unless_verbose(tmp_path):
    data = tmp_path / "train.csv"
    data.write_text("".join(sample_rows("movielens_train.csv", 2000)), encoding="utf-8")
    model_dir = str(tmp_path / "model")
    common = ["--pipeline_config", os.path.join(SAMPLES, "deepfm_on_movielens.config"),
              "--model_dir", model_dir]
    edits = {"train_config.num_steps": 3, "data_config.num_epochs": 0,
             "data_config.batch_size": 64}
    train = subprocess.run(
        [sys.executable, "-m", "easy_rec.train", *common, "--train_input_path", str(data),
         "--eval_input_path", str(data), "--edit_config_json", json.dumps(edits)],
        env=ENV, capture_output=True, text=True, cwd=str(tmp_path))
    assert train.returncode == 0, train.stderr[-3000:]
    lines = train.stderr.splitlines()
    assert [ln for ln in lines if not OWN_LINE.match(ln)] == []
    messages = collections.Counter(ln.split(" ", 2)[2] for ln in lines)
    assert [m for m, count in messages.items() if count > 1] == []
    assert any("exported SavedModel" in ln for ln in lines)

    export = subprocess.run(
        [sys.executable, "-m", "easy_rec.export", *common, "--export_dir",
         str(tmp_path / "exported"), "--verbose"],
        env=ENV, capture_output=True, text=True, cwd=str(tmp_path))
    assert export.returncode == 0, export.stderr[-3000:]
    lines = export.stderr.splitlines()
    assert [ln for ln in lines if not OWN_LINE.match(ln)] != []
    assert len([ln for ln in lines if "Assets written to" in ln]) == 1
