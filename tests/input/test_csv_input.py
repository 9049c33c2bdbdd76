"""CSV reader: types, defaults, headers, globs, and both malformed-row policies."""
from __future__ import annotations

import pytest
import tensorflow as tf
from google.protobuf import text_format

from easy_rec.input.csv_input import CSVInput
from easy_rec.input.empty_input import EmptyInputError
from easy_rec.input.line_parser import MALFORMED_KEY, MalformedRowError
from easy_rec.protos import dataset_pb2
from easy_rec.tables.errors import InputError

FIELDS = """
input_type: CSVInput separator: ","
input_fields { input_name: "label" input_type: INT32 }
input_fields { input_name: "uid" input_type: STRING }
input_fields { input_name: "price" input_type: FLOAT default_val: "-1.5" }
input_fields { input_name: "count" input_type: INT64 }
"""


def data_config(extra: str = "") -> dataset_pb2.DatasetConfig:
    config = dataset_pb2.DatasetConfig()
    text_format.Parse(FIELDS + extra, config)
    return config


def read_all(reader: CSVInput, batch_size: int = 4) -> dict:
    out: dict = {}
    for batch in reader.make_dataset(batch_size, num_epochs=1):
        for key, value in batch.items():
            out.setdefault(key, []).extend(value.numpy().reshape(-1).tolist())
    return out


def test_types_and_missing_values(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("1,u1,2.5,7\n0,u2,,\n1,,3,-2\n")
    rows = read_all(CSVInput(data_config(), str(path)))
    assert rows["label"] == [1, 0, 1]
    assert rows["uid"] == [b"u1", b"u2", b""]
    assert rows["price"] == pytest.approx([2.5, -1.5, 3.0])
    assert rows["count"] == [7, 0, -2]
    assert sum(rows[MALFORMED_KEY]) == 0


def test_only_needed_columns_are_parsed(tmp_path):
    path = tmp_path / "a.csv"
    path.write_text("1,u1,not-a-number,7\n")
    rows = read_all(CSVInput(data_config(), str(path), needed_fields=["label", "count"]))
    assert set(rows) == {"label", "count", MALFORMED_KEY}


def test_globs_and_comma_separated_paths(tmp_path):
    for i in range(3):
        (tmp_path / f"part-{i}.csv").write_text(f"{i},u{i},1,1\n")
    (tmp_path / "other.csv").write_text("9,x,1,1\n")
    reader = CSVInput(data_config(), f"{tmp_path}/part-*.csv,{tmp_path}/other.csv")
    assert sorted(read_all(reader)["label"]) == [0, 1, 2, 9]
    with pytest.raises(InputError, match="matches no file"):
        CSVInput(data_config(), f"{tmp_path}/missing-*.csv")


def test_header_maps_columns_by_name(tmp_path):
    path = tmp_path / "h.csv"
    path.write_text("count,extra,label,price,uid\n5,zz,1,0.5,u9\n")
    rows = read_all(CSVInput(data_config("with_header: true"), str(path)))
    assert rows["label"] == [1] and rows["uid"] == [b"u9"] and rows["count"] == [5]


def test_malformed_row_fails_with_file_and_line(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,u1,2.5,7\n0,u2,1.0\n1,u3,1,1\n")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"malformed CSV row at {path}:2: expected 4 columns, found 3"):
        read_all(CSVInput(data_config(), str(path)))


def test_unparsable_number_fails_with_column_name(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,u1,2.5,7\n1,u1,2.5,7\n0,u2,abc,1\n")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"{path}:3: column price: value abc is not a valid float32"):
        read_all(CSVInput(data_config(), str(path)))


def test_ignore_error_skips_and_counts(tmp_path):
    path = tmp_path / "bad.csv"
    lines = ["1,u1,2.5,7", "0,u2,1.0", "1,u3,x,1", "0,u4,1,1,extra", "1,u5,1,1"]
    path.write_text("\n".join(lines) + "\n")
    rows = read_all(CSVInput(data_config("ignore_error: true"), str(path)), batch_size=2)
    assert rows["uid"] == [b"u1", b"u5"]
    assert sum(rows[MALFORMED_KEY]) == 3


def test_malformed_row_is_reported_when_only_string_columns_are_read(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("1,u1,2.5,7\n0,u2\n")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"{path}:2: expected 4 columns, found 2"):
        read_all(CSVInput(data_config(), str(path), needed_fields=["uid"]))
    good = tmp_path / "good.csv"
    good.write_text("1,u1,2.5,7\n")
    assert read_all(CSVInput(data_config(), str(good), needed_fields=["uid"]))["uid"] == [b"u1"]


def test_non_utf8_number_is_a_malformed_row(tmp_path):
    path = tmp_path / "bytes.csv"
    path.write_bytes(b"1,u1,2.5,7\n0,u\xfe,1\xff5,3\n1,u3,1,1\n")
    with pytest.raises(tf.errors.InvalidArgumentError,
                       match=rf"malformed CSV row at {path}:2: column price: value 1\ufffd5 is "
                             "not a valid float32"):
        read_all(CSVInput(data_config(), str(path)))
    rows = read_all(CSVInput(data_config("ignore_error: true"), str(path)))
    assert rows["label"] == [1, 1] and sum(rows[MALFORMED_KEY]) == 1


def test_long_bad_cells_are_cut_in_the_message(tmp_path):
    path = tmp_path / "long.csv"
    path.write_bytes(b"1,u1,\x00" + b"9" * 500 + b",7\n")
    with pytest.raises(tf.errors.InvalidArgumentError) as info:
        read_all(CSVInput(data_config(), str(path)))
    assert f"{path}:1: column price: value \ufffd{'9' * 39}... is not" in info.value.message


@pytest.mark.parametrize("content", [b"", b"label,uid,price,count\n", b"label,uid,price,count"])
def test_check_head_rejects_files_without_rows(tmp_path, content):
    path = tmp_path / "empty.csv"
    path.write_bytes(content)
    config = data_config("with_header: true" if content else "")
    with pytest.raises(EmptyInputError, match=rf"no training rows in {path}: empty"):
        CSVInput(config, str(path)).check_head("training")
    other = tmp_path / "other.csv"
    other.write_bytes(content)
    with pytest.raises(EmptyInputError, match=r"no evaluation rows in any of 2 inputs \("):
        CSVInput(config, f"{path},{other}").check_head("evaluation")
    other.write_bytes(content.rstrip(b"\n") + b"\n1,u,2,3" if content else b"1,u,2,3")
    CSVInput(config, f"{path},{other}").check_head("training")


def test_check_head_names_a_malformed_row_of_the_first_block(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text("label,uid,price,count\n1,u1,2.5,7\n0,u2,x,3\n" + "1,u,1,1\n" * 100)
    with pytest.raises(MalformedRowError,
                       match=rf"^malformed CSV row at {path}:3: column price: value x is not"):
        CSVInput(data_config("with_header: true"), str(path), block_bytes=64).check_head("e")
    CSVInput(data_config("with_header: true ignore_error: true"), str(path)).check_head("e")
    late = tmp_path / "late.csv"  # a bad row after the first block is found when it is read
    late.write_text("1,u,1,1\n" * 20 + "0,u2,x,3\n")
    CSVInput(data_config(), str(late), block_bytes=64).check_head("evaluation")
