"""Workbooks in the layout of EasyRec's own templates (samples/excel_config/*.xls in its
repository): only the features and global sheets, no boundaries / weights / query columns,
the group column headed `group`, data types in the global sheet's type column, .xls files."""
from __future__ import annotations

import sys
import types

import pytest
from openpyxl import Workbook

from easy_rec.pipeline import parse_pipeline_config_text
from easy_rec.tools.create_config_from_excel import convert
from easy_rec.tools.excel import ConvertOptions, ExcelConfigError, read_workbook
from easy_rec.tools.excel.reader import XLS_MAGIC

FEATURES = [
    ["name", "data_type", "type", "group", "global", "hash_bucket_size", "embedding_dim",
     "default_value"],
    ["label", "bigint", "label", "label", None, None, None, None],
    ["hour", "bigint", "category", "wide_and_deep", None, 24, 8, None],
    ["site_id", "string", "category", "wide_and_deep", "site", None, None, None],
    ["app_id", "string", "category", "deep", "app", None, None, None],
    ["device_ip", "string", "notneed", None, None, None, None, None],
]
GLOBAL = [
    ["name", "type", "hash_bucket_size", "embedding_dim", "default_value"],
    ["site", "string", 1000, 8, "-1"],  # EasyRec ignores this type cell
    ["app", "bigint", 500, 8, "-1"],
]
TOWERS = {"wide_and_deep": "user", "deep": "item"}


def easyrec_workbook(path, group_of=None) -> str:
    """The features and global sheets only, as EasyRec's templates have them."""
    book = Workbook()
    features = book.active
    features.title = "features"
    for values in FEATURES:
        group = values[3]
        features.append(values[:3] + [(group_of or {}).get(group, group)] + values[4:])
    sheet = book.create_sheet("global")
    for values in GLOBAL:
        sheet.append(values)
    book.save(path)
    return str(path)


def options(model_type: str) -> ConvertOptions:
    return ConvertOptions(model_type=model_type, train_input_path="train.csv",
                          eval_input_path="test.csv", model_dir="experiments/x",
                          column_separator=",", incol_separator="|")


@pytest.mark.parametrize("model_type, group_of", [("deepfm", None),
                                                  ("multi_tower", TOWERS)])
def test_easyrec_layout_converts_to_a_valid_config(tmp_path, model_type, group_of):
    path = easyrec_workbook(tmp_path / "t.xlsx", group_of)
    out = tmp_path / "t.config"
    convert(path, str(out), options(model_type))
    config = parse_pipeline_config_text(out.read_text(encoding="utf-8"), str(out),
                                        validate=False).config
    fields = {f.input_name: f for f in config.data_config.input_fields}
    assert list(fields) == ["label", "hour", "site_id", "app_id", "device_ip"]
    names = {f.input_names[0]: f for f in config.feature_configs or config.feature_config.features}
    assert names["site_id"].hash_bucket_size == 1000 and names["site_id"].embedding_name == "site"
    assert "device_ip" not in names


def test_list_sheets_restrict_values_only_when_present(tmp_path):
    spec = read_workbook(easyrec_workbook(tmp_path / "t.xlsx"))
    assert spec.groups is None and spec.types is None and spec.basic_types is None
    assert spec.globals["app"].type == ""  # 'bigint' is no feature type: ignored


def _fake_xlrd(book: Workbook) -> types.ModuleType:
    """An xlrd stand-in serving the sheets of an openpyxl workbook (text 1, number 2)."""
    module = types.ModuleType("xlrd")
    module.XLRDError = type("XLRDError", (Exception,), {})

    class Cell:
        def __init__(self, value):
            self.value = "" if value is None else value
            self.ctype = 0 if value is None else 2 if isinstance(value, int | float) else 1

    class Sheet:
        def __init__(self, worksheet):
            self._rows = [[Cell(c.value) for c in r] for r in worksheet.iter_rows()]
            self.nrows = len(self._rows)

        def row(self, index):
            return self._rows[index]

    class Book:
        def sheet_names(self):
            return book.sheetnames

        def sheet_by_name(self, name):
            return Sheet(book[name])

    module.open_workbook = lambda path: Book()
    return module


def _xls_file(tmp_path) -> str:
    path = tmp_path / "template.xls"
    path.write_bytes(XLS_MAGIC + b"\0" * 504)
    return str(path)


def test_xls_without_xlrd_asks_for_xlsx(tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "xlrd", None)  # import xlrd fails
    with pytest.raises(ExcelConfigError, match=r"\.xls\) workbook; reading it needs xlrd .* "
                                               r"save it as \.xlsx"):
        read_workbook(_xls_file(tmp_path))


def test_xls_is_read_with_xlrd(tmp_path, monkeypatch):
    from openpyxl import load_workbook

    book = load_workbook(easyrec_workbook(tmp_path / "t.xlsx"))
    monkeypatch.setitem(sys.modules, "xlrd", _fake_xlrd(book))
    from_xls = read_workbook(_xls_file(tmp_path))
    from_xlsx = read_workbook(str(tmp_path / "t.xlsx"))
    assert [(f.name, f.type, f.hash_bucket_size) for f in from_xls.features] == \
        [(f.name, f.type, f.hash_bucket_size) for f in from_xlsx.features]
