"""easy_rec.tools.create_config_from_excel: workbook -> pipeline config (docs/excel_config.md)."""
from __future__ import annotations

import copy
import importlib.util
import os
import subprocess
import sys

import pytest
from conftest import REPO, SAMPLES, sample_rows
from google.protobuf import text_format

from easy_rec.pipeline import load_pipeline_config
from easy_rec.tools.create_config_from_excel import convert, unescape_separator
from easy_rec.tools.excel import ConvertOptions, ExcelConfigError, read_workbook
from easy_rec.tools.excel.builder import supports_model_block
from easy_rec.tools.excel.writer import SheetData, write_workbook

EXCEL_DIR = os.path.join(SAMPLES, "excel")
MODEL_TYPES = ["deepfm", "wide_and_deep", "multi_tower", "dssm"]
TRAINABLE = ["deepfm", "wide_and_deep", "multi_tower"]
COLUMNS = ["name", "data_type", "type", "user_item_other", "global", "hash_bucket_size",
           "embedding_dim", "default_value", "weights", "boundaries", "query"]


def _load_build_script():
    path = os.path.join(REPO, "scripts", "build_excel_templates.py")
    spec = importlib.util.spec_from_file_location("build_excel_templates", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BUILD = _load_build_script()


def options(model_type: str, **kwargs) -> ConvertOptions:
    values = {"train_input_path": "samples/data/movielens_train.csv",
              "eval_input_path": "samples/data/movielens_test.csv",
              "model_dir": "experiments/excel", "column_separator": "\t"}
    values.update(kwargs)
    return ConvertOptions(model_type=model_type, **values)


def convert_template(model_type: str, tmp_path, **kwargs) -> str:
    out = str(tmp_path / f"{model_type}.config")
    convert(os.path.join(EXCEL_DIR, f"{model_type}.xlsx"), out, options(model_type, **kwargs))
    return out


@pytest.fixture(scope="module")
def tiny_data(tmp_path_factory):
    """(train, test) paths with 1,500 / 300 rows of the MovieLens sample."""
    root = tmp_path_factory.mktemp("excel_data")
    train, test = root / "train.csv", root / "test.csv"
    train.write_text("".join(sample_rows("movielens_train.csv", 1500)), encoding="utf-8")
    test.write_text("".join(sample_rows("movielens_test.csv", 300)), encoding="utf-8")
    return str(train), str(test)


# -- templates -----------------------------------------------------------------------------
def test_templates_are_reproducible_and_up_to_date(tmp_path):
    built = BUILD.build(tmp_path)
    assert sorted(p.name for p in built) == sorted(f"{m}.xlsx" for m in MODEL_TYPES)
    for path in built:
        with open(os.path.join(EXCEL_DIR, path.name), "rb") as f:
            assert f.read() == path.read_bytes(), f"samples/excel/{path.name} is out of date"
    assert BUILD.check(tmp_path) == 0


@pytest.mark.parametrize("model_type", MODEL_TYPES)
def test_template_describes_the_movielens_table(model_type):
    spec = read_workbook(os.path.join(EXCEL_DIR, f"{model_type}.xlsx"))
    names = [f.name for f in spec.features]
    assert names == ["label", "user_id", "movie_id", "rating", "gender", "age", "job_id",
                     "zip_id", "title", "genres", "year"]
    assert len(sample_rows("movielens_train.csv", 1)[0].rstrip("\n").split("\t")) == len(names)
    assert spec.label.name == "label"
    assert spec.feature("user_id").hash_bucket_size == 12000  # from the global sheet


@pytest.mark.parametrize("model_type", TRAINABLE)
def test_template_converts_to_a_valid_config(model_type, tmp_path):
    path = convert_template(model_type, tmp_path)
    config = load_pipeline_config(path).config  # validation on
    model = config.model_config
    groups = {g.group_name: list(g.feature_names) for g in model.feature_groups}
    assert model.WhichOneof("model") == model_type
    assert config.data_config.separator == "\t"
    assert [f.input_name for f in config.data_config.input_fields][:3] == \
        ["label", "user_id", "movie_id"]
    assert list(config.data_config.label_fields) == ["label"]
    assert "rating" not in [f.input_names[0] for f in config.feature_config.features]
    if model_type == "multi_tower":
        assert groups == {"user": ["user_id", "gender", "age", "job_id", "zip_id"],
                          "item": ["movie_id", "title", "genres", "year"]}
        assert [t.input for t in model.multi_tower.towers] == ["user", "item"]
    else:
        assert "zip_id" not in groups["wide"] and "zip_id" in groups["deep"]
        assert "user_id" in groups["wide"] and "user_id" in groups["deep"]


def test_dssm_template_converts_to_easyrec_dssm_layout(tmp_path):
    path = convert_template("dssm", tmp_path)
    with open(path, encoding="utf-8") as f:
        text = f.read()
    for expected in ('model_class: "DSSM"', "user_tower {", 'id: "user_id"', "item_tower {",
                     'id: "movie_id"', "simi_func: COSINE", "temperature: 0.05"):
        assert expected in text
    assert supports_model_block("dssm")
    config = load_pipeline_config(path).config  # validated in full, model block included
    groups = {g.group_name: list(g.feature_names) for g in config.model_config.feature_groups}
    assert groups == {"user": ["user_id", "gender", "age", "job_id", "zip_id"],
                      "item": ["movie_id", "title", "genres", "year"]}
    dssm = config.model_config.dssm
    assert list(dssm.user_tower.dnn.hidden_units) == list(dssm.item_tower.dnn.hidden_units) == \
        [256, 128, 64, 32]


@pytest.mark.slow
@pytest.mark.parametrize("model_type", TRAINABLE + ["dssm"])
def test_generated_config_trains(model_type, tmp_path, tiny_data):
    from easy_rec.training.trainer import Trainer

    path = convert_template(model_type, tmp_path)
    edits = {"model_dir": str(tmp_path / "model"), "train_input_path": tiny_data[0],
             "eval_input_path": tiny_data[1], "data_config.batch_size": 64,
             "train_config.num_steps": 20, "train_config.log_step_count_steps": 10,
             "export_config.exporter_type": "none"}
    config = load_pipeline_config(path, edits).config
    trainer = Trainer(config, base_dir=REPO)
    results = trainer.train()
    assert int(trainer.global_step) == 20
    assert 0.0 <= results["auc"] <= 1.0


# -- type mapping --------------------------------------------------------------------------
def workbook(tmp_path, feature_rows, global_rows=(), groups=("user", "item", "label"),
             name="book.xlsx", columns=COLUMNS) -> str:
    """A workbook with the given features and global rows and complete list sheets."""
    path = str(tmp_path / name)
    write_workbook(path, [
        SheetData("features", columns, [list(r) for r in feature_rows]),
        SheetData("global", ["name", "type", "hash_bucket_size", "embedding_dim",
                             "default_value"], [list(r) for r in global_rows]),
        SheetData("group", ["group"], [[g] for g in groups]),
        SheetData("types", ["types"], [[t] for t in ("label", "category", "tags", "weights",
                                                     "dense", "indexes", "notneed")]),
        SheetData("basic_types", ["basic_types"], [[t] for t in ("string", "bigint", "double")]),
    ], dropdowns=False)
    return path


def row(name, data_type, kind, group=None, shared=None, buckets=None, dim=None, default=None,
        weights=None, boundaries=None):
    return [name, data_type, kind, group, shared, buckets, dim, default, weights, boundaries,
            None]


MAPPING_ROWS = [
    row("clk", "bigint", "label", "label"),
    row("uid", "string", "category", "user", shared="uid"),
    row("cate_idx", "string", "tags", "item", shared="cate", weights="cate_wgt"),
    row("cate_wgt", "string", "weights", "item"),
    row("other_cate", "string", "tags", "user", shared="cate"),
    row("tag_ids", "string", "indexes", "item", buckets=50, dim=8),
    row("price", "double", "dense", "item"),
    row("own_room", "bigint", "dense", "user", dim=4, boundaries="10,20,30"),
    row("comment", "string", "not_need"),
]
MAPPING_GLOBALS = [("uid", "category", 1000, 8, "0"), ("cate", "tags", 100, 8, None)]


def test_every_type_maps_to_fields_features_and_groups(tmp_path):
    book = workbook(tmp_path, MAPPING_ROWS, MAPPING_GLOBALS)
    out = str(tmp_path / "out.config")
    convert(book, out, options("multi_tower", incol_separator=";"))
    config = load_pipeline_config(out).config
    fields = {f.input_name: f for f in config.data_config.input_fields}
    assert list(fields) == [r[0] for r in MAPPING_ROWS]
    assert fields["uid"].default_val == "0"  # from the global sheet
    assert not fields["price"].HasField("default_val")
    features = {f.input_names[0]: f for f in config.feature_config.features}
    assert set(features) == {"uid", "cate_idx", "other_cate", "tag_ids", "price", "own_room"}
    assert text_format.MessageToString(features["uid"], as_one_line=True) == (
        'input_names: "uid" feature_type: IdFeature embedding_name: "uid" embedding_dim: 8 '
        "hash_bucket_size: 1000")
    tags = features["cate_idx"]
    assert list(tags.input_names) == ["cate_idx", "cate_wgt"]
    assert (tags.feature_type, tags.separator, tags.embedding_name, tags.hash_bucket_size) == \
        (tags.TagFeature, ";", "cate", 100)
    assert features["other_cate"].embedding_name == "cate"
    assert (features["tag_ids"].num_buckets, features["tag_ids"].hash_bucket_size) == (50, 0)
    assert list(features["own_room"].boundaries) == [10, 20, 30]
    assert features["price"].feature_type == features["price"].RawFeature
    assert not features["price"].boundaries
    groups = {g.group_name: list(g.feature_names) for g in config.model_config.feature_groups}
    assert groups == {"user": ["uid", "other_cate", "own_room"],
                      "item": ["cate_idx", "tag_ids", "price"]}


def test_wide_and_deep_groups_default_to_both(tmp_path):
    rows = [row("clk", "bigint", "label"), row("a", "string", "category", None, buckets=10, dim=4),
            row("b", "string", "category", "wide", buckets=10, dim=4),
            row("c", "double", "dense", "deep")]
    book = workbook(tmp_path, rows, groups=("wide_and_deep", "wide", "deep", "label"))
    out = str(tmp_path / "out.config")
    convert(book, out, options("wide_and_deep"))
    config = load_pipeline_config(out).config
    groups = {g.group_name: (list(g.feature_names), g.wide_deep)
              for g in config.model_config.feature_groups}
    assert groups == {"wide": (["a", "b"], 1), "deep": (["a", "c"], 0)}


def test_unescape_separator():
    assert unescape_separator("\\t") == "\t"
    assert unescape_separator("\\001") == "\x01"
    assert unescape_separator("\\x02") == "\x02"
    assert unescape_separator(",") == ","


# -- errors --------------------------------------------------------------------------------
def template(model_type: str = "deepfm") -> list[SheetData]:
    return copy.deepcopy(BUILD.template_sheets(model_type))


def sheet(sheets, name) -> SheetData:
    return next(s for s in sheets if s.name == name)


def set_cell(sheets, name, row_number, column, value):
    data = sheet(sheets, name)
    rows = [list(r) for r in data.rows]
    rows[row_number - 2][list(data.header).index(column)] = value
    data.rows = rows
    return sheets


def drop_column(sheets, name, column):
    data = sheet(sheets, name)
    i = list(data.header).index(column)
    data.header = [h for k, h in enumerate(data.header) if k != i]
    data.rows = [[v for k, v in enumerate(r) if k != i] for r in data.rows]
    return sheets


def add_list_value(sheets, name, value):
    sheet(sheets, name).rows.append([value])
    return sheets


def rename_column(sheets, name, old, new):
    data = sheet(sheets, name)
    data.header = [new if h == old else h for h in data.header]
    return sheets


F = "features"
ERROR_CASES = {
    # id: (model_type, mutation, (sheet, row, column), fragment)
    "missing_sheet": ("deepfm", lambda s: [x for x in s if x.name != "global"],
                      ("global", None, None), "sheet is missing"),
    "missing_column": ("deepfm", lambda s: drop_column(s, F, "global"),
                       (F, 1, "global"), "column is missing"),
    "duplicate_column": ("deepfm", lambda s: rename_column(s, F, "query", "type"),
                         (F, 1, "type"), "column appears twice"),
    "unknown_type": ("deepfm", lambda s: set_cell(s, F, 7, "type", "catgory"),
                     (F, 7, "type"), "unknown feature type 'catgory'"),
    "type_not_listed": ("deepfm", lambda s: set_cell(
        (sheet(s, "types").rows.remove(["indexes"]), s)[1], F, 11, "type", "indexes"),
        (F, 11, "type"), "feature type 'indexes' is not listed in sheet 'types'"),
    "unknown_data_type": ("deepfm", lambda s: set_cell(s, F, 6, "data_type", "long"),
                          (F, 6, "data_type"), "unknown data type 'long'"),
    "tags_weights_undefined": ("deepfm", lambda s: set_cell(s, F, 11, "weights", "genre_wgt"),
                               (F, 11, "weights"), "'genre_wgt', which is not defined"),
    "tags_weights_not_weights": ("deepfm", lambda s: set_cell(s, F, 11, "weights", "rating"),
                                 (F, 11, "weights"), "which has type 'notneed'"),
    "non_numeric_hash_bucket_size": (
        "deepfm", lambda s: set_cell(s, F, 6, "hash_bucket_size", "ten"),
        (F, 6, "hash_bucket_size"), "hash_bucket_size must be a positive integer, got 'ten'"),
    "fractional_embedding_dim": ("deepfm", lambda s: set_cell(s, F, 6, "embedding_dim", 7.5),
                                 (F, 6, "embedding_dim"), "must be a positive integer"),
    "missing_hash_bucket_size": ("deepfm", lambda s: set_cell(s, F, 6, "hash_bucket_size", None),
                                 (F, 6, "hash_bucket_size"), "needs a hash_bucket_size"),
    "missing_embedding_dim": ("deepfm", lambda s: set_cell(s, F, 9, "embedding_dim", None),
                              (F, 9, "embedding_dim"), "needs an embedding_dim"),
    "dense_boundaries_without_dim": ("deepfm", lambda s: set_cell(s, F, 12, "embedding_dim", None),
                                     (F, 12, "embedding_dim"), "bucketized"),
    "bad_boundaries": ("deepfm", lambda s: set_cell(s, F, 12, "boundaries", "1930,abc"),
                       (F, 12, "boundaries"), "numbers separated by ','"),
    "unsorted_boundaries": ("deepfm", lambda s: set_cell(s, F, 12, "boundaries", "1950,1930"),
                            (F, 12, "boundaries"), "strictly increasing"),
    "bad_default_value": ("deepfm", lambda s: set_cell(s, F, 6, "default_value", "abc"),
                          (F, 6, "default_value"), "not a bigint value"),
    "undefined_global": ("deepfm", lambda s: set_cell(s, F, 3, "global", "uid"),
                         (F, 3, "global"), "global 'uid' is not defined in sheet 'global'"),
    "bad_global_dim": ("deepfm", lambda s: set_cell(s, "global", 2, "embedding_dim", "x"),
                       ("global", 2, "embedding_dim"), "must be a positive integer"),
    "shared_table_disagrees": ("deepfm", lambda s: set_cell(set_cell(set_cell(set_cell(
        s, "global", 2, "embedding_dim", None), F, 3, "embedding_dim", 16),
        F, 6, "global", "user_id"), F, 6, "embedding_dim", 8),
        (F, 6, "embedding_dim"), "shares global 'user_id'"),
    "duplicate_name": ("deepfm", lambda s: set_cell(s, F, 7, "name", "gender"),
                       (F, 7, "name"), "listed twice (first in row 6)"),
    "empty_name": ("deepfm", lambda s: set_cell(s, F, 7, "name", None),
                   (F, 7, "name"), "column name is empty"),
    "no_label": ("deepfm", lambda s: set_cell(s, F, 2, "type", "notneed"),
                 (F, None, "type"), "no column has type 'label'"),
    "two_labels": ("deepfm", lambda s: set_cell(s, F, 5, "type", "label"),
                   (F, 5, "type"), "a second label column 'rating'"),
    "string_label": ("deepfm", lambda s: set_cell(s, F, 2, "data_type", "string"),
                     (F, 2, "data_type"), "must be numeric"),
    "group_not_listed": ("deepfm", lambda s: set_cell(s, F, 6, "user_item_other", "user"),
                         (F, 6, "user_item_other"), "group 'user' is not listed in sheet 'group'"),
    "tower_group_for_deepfm": ("deepfm", lambda s: set_cell(
        add_list_value(s, "group", "user"), F, 6, "user_item_other", "user"),
        (F, 6, "user_item_other"), "not a deepfm group"),
    "feature_in_label_group": ("multi_tower", lambda s: set_cell(s, F, 6, "user_item_other",
                                                                 "label"),
                               (F, 6, "user_item_other"), "only the label column"),
    "tower_missing": ("multi_tower", lambda s: set_cell(s, F, 6, "user_item_other", None),
                      (F, 6, "user_item_other"), "has no group"),
    "dssm_third_tower": ("dssm", lambda s: set_cell(add_list_value(s, "group", "other"), F, 6,
                                                    "user_item_other", "other"),
                         (F, 6, "user_item_other"), "not a dssm tower"),
    "deepfm_fm_dims_differ": ("deepfm", lambda s: set_cell(s, F, 7, "embedding_dim", 8),
                              (F, 7, "embedding_dim"), "one embedding_dim for all deep"),
    "empty_group_for_model": ("multi_tower", lambda s: [
        SheetData(x.name, x.header, [r for r in x.rows if r[3] != "item"]) if x.name == F else x
        for x in s], (F, None, None), None),
}


def expected_prefix(path: str, where: tuple) -> str:
    sheet_name, row_number, column = where
    parts = [f"sheet {sheet_name!r}"]
    if row_number is not None:
        parts.append(f"row {row_number}")
    if column is not None:
        parts.append(f"column {column!r}")
    return f"{path}: {' '.join(parts)}: "


@pytest.mark.parametrize("case", [c for c in ERROR_CASES if c != "empty_group_for_model"])
def test_bad_workbook_error_names_sheet_row_and_column(case, tmp_path):
    model_type, mutate, where, fragment = ERROR_CASES[case]
    book = str(tmp_path / "bad.xlsx")
    write_workbook(book, mutate(template(model_type)), dropdowns=False)
    out = tmp_path / "out.config"
    with pytest.raises(ExcelConfigError) as error:
        convert(book, str(out), options(model_type))
    message = str(error.value)
    assert message.startswith(expected_prefix(book, where)), message
    assert fragment in message, message
    assert not out.exists()


def test_multi_tower_keeps_only_used_towers(tmp_path):
    """Without item features a multi_tower config has just the user tower."""
    model_type, mutate, _, _ = ERROR_CASES["empty_group_for_model"]
    book = str(tmp_path / "users.xlsx")
    write_workbook(book, mutate(template(model_type)), dropdowns=False)
    out = str(tmp_path / "out.config")
    convert(book, out, options(model_type))
    towers = load_pipeline_config(out).config.model_config.multi_tower.towers
    assert [t.input for t in towers] == ["user"]


def test_dssm_needs_both_towers(tmp_path):
    sheets = template("dssm")
    features = sheet(sheets, F)
    features.rows = [r for r in features.rows if r[3] != "item"]
    book = str(tmp_path / "users.xlsx")
    write_workbook(book, sheets, dropdowns=False)
    with pytest.raises(ExcelConfigError, match="no feature is in group 'item'") as error:
        convert(book, str(tmp_path / "out.config"), options("dssm"))
    assert str(error.value).startswith(f"{book}: sheet 'features' column 'user_item_other': ")


def test_not_a_workbook(tmp_path):
    bad = tmp_path / "x.xlsx"
    bad.write_text("not a zip", encoding="utf-8")
    with pytest.raises(ExcelConfigError, match="cannot read the workbook") as error:
        convert(str(bad), str(tmp_path / "out.config"), options("deepfm"))
    assert str(error.value).startswith(f"{bad}: ")
    with pytest.raises(ExcelConfigError, match="workbook not found"):
        convert(str(tmp_path / "missing.xlsx"), str(tmp_path / "out.config"), options("deepfm"))


def test_group_column_alias(tmp_path):
    """EasyRec's converter names the group column `group`; it is read the same way."""
    sheets = rename_column(template("multi_tower"), F, "user_item_other", "group")
    set_cell(sheets, F, 6, "group", None)
    book = str(tmp_path / "alias.xlsx")
    write_workbook(book, sheets, dropdowns=False)
    with pytest.raises(ExcelConfigError) as error:
        convert(book, str(tmp_path / "out.config"), options("multi_tower"))
    assert str(error.value).startswith(f"{book}: sheet 'features' row 6 column 'group': ")


# -- command line --------------------------------------------------------------------------
def run_cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "easy_rec.tools.create_config_from_excel",
                           *args], cwd=REPO, capture_output=True, text=True, timeout=120)


@pytest.mark.slow
def test_cli_writes_config_and_exits_0(tmp_path):
    out = tmp_path / "dssm.config"
    result = run_cli("--model_type", "dssm", "--excel_path", "samples/excel/dssm.xlsx",
                     "--output_path", str(out), "--column_separator", "\\t",
                     "--train_input_path", "samples/data/movielens_train.csv",
                     "--eval_input_path", "samples/data/movielens_test.csv",
                     "--model_dir", str(tmp_path / "model"))
    assert result.returncode == 0, result.stderr
    text = out.read_text(encoding="utf-8")
    assert 'separator: "\\t"' in text and 'model_class: "DSSM"' in text
    assert f'model_dir: "{tmp_path / "model"}"' in text


@pytest.mark.slow
def test_cli_bad_workbook_exits_1_without_output(tmp_path):
    book = str(tmp_path / "bad.xlsx")
    write_workbook(book, set_cell(template(), F, 7, "type", "catgory"), dropdowns=False)
    out = tmp_path / "bad.config"
    result = run_cli("--model_type", "deepfm", "--excel_path", book, "--output_path", str(out))
    assert result.returncode == 1
    assert (f"error: {book}: sheet 'features' row 7 column 'type': unknown feature type "
            "'catgory'") in result.stderr
    assert not out.exists()


@pytest.mark.slow
@pytest.mark.parametrize("args, message", [
    (["--excel_path", "samples/excel/none.xlsx"], "workbook not found"),
    (["--excel_path", "samples/excel/deepfm.xlsx", "--incol_separator", ","],
     "must differ from the column separator"),
])
def test_cli_other_errors_exit_1(args, message, tmp_path):
    out = tmp_path / "x.config"
    result = run_cli("--model_type", "deepfm", "--output_path", str(out), *args)
    assert result.returncode == 1
    assert message in result.stderr
    assert not out.exists()
