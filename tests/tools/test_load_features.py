"""`python -m easy_rec.tools.load_features` against a real Redis: CSV and Parquet, types from
data_config or --input_fields, the bad-row policy with file:line, the password kept out of the
output, and the command as a subprocess."""
import json
import logging
import os
import subprocess
import sys
import uuid

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from easy_rec import cli
from easy_rec.store.feature_store import FeatureStore
from easy_rec.store.redis_client import connect
from easy_rec.tables.errors import RejectedRowError
from easy_rec.tools.load_features import main

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
DEEPFM = os.path.join(REPO, "samples", "deepfm_on_movielens.config")
TRAIN = os.path.join(REPO, "samples", "data", "movielens_train.csv")
USERS = "user_id,age,gender,zip\n"


@pytest.fixture
def namespace():
    return f"lf{uuid.uuid4().hex[:10]}"


def run(redis_url, namespace, *args):
    """Runs the command in-process; returns its JSON summary."""
    return main(["--redis_url", redis_url, "--namespace", namespace, "--no_progress", *args])


def summary_of(capsys) -> dict:
    return json.loads(capsys.readouterr().out.strip().splitlines()[-1])


def test_joined_training_csv_loads_the_config_columns_typed(redis_server, namespace, tmp_path,
                                                             capsys):
    head = tmp_path / "train_head.csv"
    with open(TRAIN, encoding="utf-8") as f:
        head.write_text("".join(next(f) for _ in range(300)), encoding="utf-8")
    assert run(redis_server.url, namespace, "--table", "item", "--key_field", "movie_id",
               "--input_path", str(head), "--pipeline_config", DEEPFM) == 0
    summary = summary_of(capsys)
    assert summary["rows"] == 300 and summary["bad_rows"] == 0 and summary["version"] == "1"
    store = FeatureStore(redis_server.client(), namespace)
    # the feature inputs of the config (not the label, not rating), typed as data_config says
    assert list(store.schema("item").fields) == [
        "movie_id", "user_id", "gender", "age", "job_id", "zip_id", "title", "genres", "year"]
    last = {}
    for line in head.read_text(encoding="utf-8").splitlines():
        cells = line.split("\t")
        last[cells[2]] = cells
    movie, cells = next(iter(last.items()))
    assert store.fetch("item", [movie]) == [{
        "movie_id": int(movie), "user_id": int(cells[1]), "gender": int(cells[4]),
        "age": int(cells[5]), "job_id": int(cells[6]), "zip_id": cells[7], "title": cells[8],
        "genres": cells[9], "year": int(cells[10])}]
    assert summary["keys"] == len(last)


def test_parquet_glob_with_input_fields_types(redis_server, namespace, tmp_path, capsys):
    for part, ids in enumerate([[1, 2], [3]]):
        pq.write_table(pa.table({"user_id": pa.array(ids, pa.int64()),
                                 "score": pa.array([0.5] * len(ids), pa.float64()),
                                 "tags": ["a|b"] * len(ids), "unused": ids}),
                       tmp_path / f"part-{part}.parquet")
    assert run(redis_server.url, namespace, "--table", "user", "--key_field", "user_id",
               "--input_path", str(tmp_path / "part-*.parquet"), "--columns", "score,tags",
               "--input_fields", "user_id:INT64,score:FLOAT,tags:STRING,unused:INT32") == 0
    assert summary_of(capsys)["rows"] == 3
    store = FeatureStore(redis_server.client(), namespace)
    assert store.fetch("user", ["3", "4"]) == [{"user_id": 3, "score": 0.5, "tags": "a|b"}, None]


def write_users(path, *rows):
    path.write_text(USERS + "".join(f"{r}\n" for r in rows), encoding="utf-8")
    return str(path)


def test_bad_row_fails_the_load_by_file_and_line_and_keeps_the_version(
        redis_server, namespace, tmp_path, capsys):
    args = ["--table", "user", "--key_field", "user_id", "--with_header", "--separator", ",",
            "--input_fields", "user_id:INT64,age:INT32,gender:STRING,zip:STRING"]
    good = write_users(tmp_path / "good.csv", "1,20,M,z1", "2,30,F,z2")
    assert run(redis_server.url, namespace, *args, "--input_path", good) == 0
    bad = write_users(tmp_path / "bad.csv", "1,21,M,z1", "2,old,F,z2")
    with pytest.raises(RejectedRowError, match=r"bad\.csv:3: column age: value 'old' is not a "
                                               r"valid int32 \(pass --ignore_error"):
        run(redis_server.url, namespace, *args, "--input_path", bad)
    store = FeatureStore(redis_server.client(), namespace)
    assert store.current_version("user") == "1"
    assert store.fetch("user", ["1"])[0]["age"] == 20
    with pytest.raises(SystemExit) as stop:  # as the command line reports it
        cli.run(lambda: run(redis_server.url, namespace, *args, "--input_path", bad))
    assert stop.value.code == 1
    assert "error: " in capsys.readouterr().err


def test_ignore_error_skips_and_counts_bad_rows_by_place(redis_server, namespace, tmp_path,
                                                         capsys, caplog):
    path = write_users(tmp_path / "users.csv", "1,20,M,z1", "2,x,F,z2", "3,40", ",50,M,z5",
                       "4,,F,z4")
    with caplog.at_level(logging.WARNING):
        assert run(redis_server.url, namespace, "--table", "user", "--key_field", "user_id",
                   "--with_header", "--separator", ",", "--ignore_error", "--input_path", path,
                   "--input_fields", "user_id:INT64,age:INT32,gender,zip",
                   "--defaults", '{"age": 33}') == 0
    summary = summary_of(capsys)
    assert (summary["rows"], summary["bad_rows"]) == (2, 3)
    warnings = "\n".join(r.getMessage() for r in caplog.records)
    for place in ("users.csv:3", "users.csv:4", "users.csv:5"):
        assert place in warnings
    store = FeatureStore(redis_server.client(), namespace)
    assert store.fetch("user", ["1", "2", "4"]) == [
        {"user_id": 1, "age": 20, "gender": "M", "zip": "z1"}, None,
        {"user_id": 4, "age": 33, "gender": "F", "zip": "z4"}]


def test_unknown_column_is_refused_before_any_write(redis_server, namespace, tmp_path):
    path = write_users(tmp_path / "users.csv", "1,20,M,z1")
    with pytest.raises(ValueError, match="no column height"):
        run(redis_server.url, namespace, "--table", "user", "--key_field", "user_id",
            "--with_header", "--separator", ",", "--columns", "height", "--input_path", path)
    assert FeatureStore(redis_server.client(), namespace).current_version("user") is None


@pytest.mark.slow
def test_command_loads_with_a_password_it_never_prints(own_redis_server, tmp_path):
    secret = "pw-" + uuid.uuid4().hex
    own_redis_server.client().config_set("requirepass", secret)
    url = own_redis_server.url.replace("redis://", f"redis://:{secret}@")
    path = write_users(tmp_path / "users.csv", "1,20,M,z1", "2,30,F,z2")
    command = [sys.executable, "-m", "easy_rec.tools.load_features", "--redis_url", url,
               "--table", "user", "--key_field", "user_id", "--input_path", path,
               "--with_header", "--separator", ",", "--input_fields", "user_id:INT64,age:INT32"]
    done = subprocess.run(command, env=dict(os.environ, PYTHONPATH=REPO), capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]
    summary = json.loads(done.stdout.strip().splitlines()[-1])
    assert (summary["rows"], summary["keys"], summary["version"]) == (2, 2, "1")
    assert secret not in done.stdout + done.stderr and ":***@" in summary["redis"]
    store = FeatureStore(connect(url))
    assert store.fetch("user", ["2"]) == [{"user_id": 2, "age": 30, "gender": "F", "zip": "z2"}]
