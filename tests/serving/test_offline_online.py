"""Offline = online: the service's :recommend scores, from features loaded into a real Redis by
`easy_rec.tools.load_features`, equal `easy_rec.predict`'s scores of the same (user, item) pairs
joined into CSV rows, for DeepFM and DIN (whose behaviour sequence is a user feature).

Both models are trained once (20 steps, no evaluation); each is served by its own
`python -m easy_rec.serve` subprocess that reads only the export (its config asset gives the
column types and defaults), under its own feature store namespace."""
from __future__ import annotations

import csv
from functools import cached_property

import numpy as np
import pytest
from conftest import sample_rows
from serve_process import ServeProcess

from easy_rec.export.user_items import SIGNATURE as TILE_SIGNATURE
from easy_rec.utils.pipeline_files import saved_model_config_path

from .serve_helpers import land_version, post, train_export

USERS, ITEMS = 3, 8
USER_COLUMNS = ["user_id", "gender", "age", "job_id", "zip_id"]
# model: (train data, test data, the columns of its data_config, its user-side columns)
MODELS = {
    "deepfm": ("movielens_train.csv", "movielens_test.csv", [], USER_COLUMNS),
    "din": ("movielens_seq_train.csv", "movielens_seq_test.csv",
            ["genre", "top_rating", "ts", "hist_movie_ids", "hist_genres"],
            USER_COLUMNS + ["hist_movie_ids", "hist_genres"]),
}
COLUMNS = ["label", "user_id", "movie_id", "rating", "gender", "age", "job_id", "zip_id",
           "title", "genres", "year"]


def first_per_key(rows: list[dict[str, str]], key: str, count: int) -> list[dict[str, str]]:
    """The first row of each of the first `count` distinct values of `key`."""
    chosen = {}
    for row in rows:
        chosen.setdefault(row[key], row)
        if len(chosen) == count:
            break
    return list(chosen.values())


def write_table(path, columns: list[str], rows: list[dict[str, str]], header: bool) -> str:
    """The rows' `columns` as tab-separated CSV text, as the sample files hold them."""
    lines = (["\t".join(columns)] if header else []) + \
        ["\t".join(row[c] for c in columns) for row in rows]
    path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")
    return str(path)


class Case:
    """One model: its export, its server, its users and items and their joined rows."""

    def __init__(self, model: str, root, redis_url: str):
        train_data, test_data, extra, self.user_columns = MODELS[model]
        self.model, self.root, self.redis_url = model, root, redis_url
        self.train_data, self.namespace = train_data, f"offline_online_{model}"
        self.columns = COLUMNS + extra
        test_rows = [dict(zip(self.columns, line.rstrip("\n").split("\t")))
                     for line in sample_rows(test_data, 2000)]
        self.users = first_per_key(test_rows, "user_id", USERS)
        self.items = first_per_key(test_rows, "movie_id", ITEMS)
        self.item_columns = [c for c in self.columns if c not in self.user_columns]
        versions = root / "versions"
        versions.mkdir()
        self.server = ServeProcess(
            ["--saved_model_dir", str(versions), "--redis_url", redis_url,
             "--namespace", self.namespace, "--item_key", "movie_id", "--poll_secs", "0.2"],
            str(root / "serve.log"))
        self.server.versions_dir = str(versions)
        self.export = ""

    def joined(self) -> list[dict[str, str]]:
        """Each user's row next to each item's row: (user, item) pairs in request order."""
        return [{**item, **{c: user[c] for c in self.user_columns}}
                for user in self.users for item in self.items]

    def load_features(self) -> None:
        """The user and item tables written to CSV and loaded by the real load_features CLI."""
        from easy_rec.tools import load_features

        config = saved_model_config_path(self.export)
        for table, key, columns, rows in [("user", "user_id", self.user_columns, self.users),
                                          ("item", "movie_id", self.item_columns, self.items)]:
            path = write_table(self.root / f"{table}.csv", columns, rows, header=True)
            assert load_features.main(
                ["--redis_url", self.redis_url, "--table", table, "--key_field", key,
                 "--input_path", path, "--with_header", "--pipeline_config", config,
                 "--namespace", self.namespace, "--no_progress"]) == 0

    @cached_property
    def offline(self) -> np.ndarray:
        """easy_rec.predict's probs of the joined rows (header-less CSV in data_config's
        column order; predict reads the export's config asset as well)."""
        from easy_rec import predict

        joined = write_table(self.root / "joined.csv", self.columns, self.joined(), header=False)
        output = str(self.root / "predicted.csv")
        assert predict.main(["--saved_model_dir", self.export, "--input_path", joined,
                             "--output_path", output, "--output_cols", "probs",
                             "--no_progress"]) == 0
        with open(output, encoding="utf-8", newline="") as f:
            scores = [float(row["probs"]) for row in csv.DictReader(f, delimiter="\t")]
        return np.array(scores).reshape(USERS, ITEMS)


@pytest.fixture(scope="module")
def cases(redis_server, tmp_path_factory) -> dict[str, Case]:
    """Both models trained, exported, served (the servers start first, loading TensorFlow
    while the models train), their features loaded."""
    built = {model: Case(model, tmp_path_factory.mktemp(f"offline_online_{model}"),
                         redis_server.url) for model in MODELS}
    try:
        for case in built.values():
            case.server.start(route="/healthz")
        for case in built.values():
            case.export = train_export(case.root, case.model, case.train_data)
            land_version(case.server.versions_dir, 1, case.export)
            case.load_features()
        for case in built.values():
            case.server.wait("/readyz")
        yield built
    finally:
        for case in built.values():
            case.server.stop()


@pytest.mark.parametrize("model", sorted(MODELS))
@pytest.mark.parametrize("signature", [TILE_SIGNATURE, "serving_default"])
def test_recommend_equals_batch_prediction(cases, model, signature):
    case = cases[model]
    item_ids = [item["movie_id"] for item in case.items]
    for user, expected in zip(case.users, case.offline):
        response = post(case.server, "/v1/models/model:recommend",
                        {"user_id": user["user_id"], "item_ids": item_ids,
                         "signature_name": signature})
        assert response.status_code == 200, response.text
        online = response.json()
        assert online["signature_name"] == signature
        assert online["missing_users"] == 0 and online["missing_items"] == 0
        np.testing.assert_allclose(online["scores"], expected, rtol=0, atol=1e-6)
