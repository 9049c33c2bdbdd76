"""EasyRec's CSV variants: CSVInputV2 unquotes double-quoted cells, CSVInputEx splits on every
separator as CSVInput does."""
from __future__ import annotations

import os

import pytest
import tensorflow as tf
from conftest import SAMPLES
from google.protobuf import text_format
from pipeline_helpers import train

from easy_rec.input.column_plan import ColumnPlan
from easy_rec.input.csv_input import CSVInput
from easy_rec.input.line_parser import MALFORMED_KEY, MalformedRowError, checked_batches
from easy_rec.input.quoted_cells import split_quoted
from easy_rec.input.reader import build_reader
from easy_rec.pipeline import load_pipeline_config
from easy_rec.protos import dataset_pb2

FIELDS = """
separator: ","
input_fields { input_name: "label" input_type: INT32 }
input_fields { input_name: "title" input_type: STRING }
input_fields { input_name: "price" input_type: FLOAT default_val: "-1.5" }
"""
QUOTED = ('1,"Heat, the movie",2.5\n'
          '0,"say ""hi""","3"\n'
          '1,plain,""\n'
          '0,"",\n')


def data_config(input_type: str, extra: str = "") -> dataset_pb2.DatasetConfig:
    return text_format.Parse(f"input_type: {input_type}" + FIELDS + extra,
                             dataset_pb2.DatasetConfig())


def read_all(reader, batch_size: int = 4) -> dict:
    out: dict = {}
    for batch in checked_batches(reader.make_dataset(batch_size, num_epochs=1)):
        for key, value in batch.items():
            out.setdefault(key, []).extend(value.numpy().reshape(-1).tolist())
    return out


def test_split_quoted_hand_computed():
    cells, ok = split_quoted(tf.constant(['a,"b,c",""', '"x""y",', 'a"b,c', '"open,d']), ",")
    assert cells.to_list()[:2] == [[b"a", b"b,c", b""], [b'x"y', b""]]
    assert ok.numpy().tolist() == [True, True, False, False]


# valid block: one decode_csv call; a block with a malformed row: cell by cell (same values)
@pytest.mark.parametrize("bad_rows", [0, 1])
def test_v2_unquotes_cells(tmp_path, bad_rows):
    path = tmp_path / "q.csv"
    path.write_text(QUOTED + "x\n" * bad_rows)
    reader = CSVInput(data_config("CSVInputV2", "ignore_error: true"), str(path))
    assert reader.decodes_blocks
    rows = read_all(reader)
    assert rows["title"] == [b"Heat, the movie", b'say "hi"', b"plain", b""]
    assert rows["price"] == pytest.approx([2.5, 3.0, -1.5, -1.5])  # "" is an empty cell
    assert rows["label"] == [1, 0, 1, 0]
    assert sum(rows[MALFORMED_KEY]) == bad_rows


def test_ex_and_csv_keep_quotes_as_text(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text('1,"a b",2\n')
    for input_type in ("CSVInputEx", "CSVInput"):
        plan = ColumnPlan((), ("label", "title", "price"), None, (), (), {}, {})
        rows = read_all(build_reader(data_config(input_type), str(path), plan))
        assert rows["title"] == [b'"a b"']


@pytest.mark.parametrize("line", ['1,ab"c,2', '1,"open,2'])
def test_v2_stray_quote_is_a_malformed_row(tmp_path, line):
    path = tmp_path / "bad.csv"
    path.write_text(f"1,ok,1\n{line}\n")
    with pytest.raises(MalformedRowError, match=r"bad.csv:2: a cell holds a quote"):
        read_all(CSVInput(data_config("CSVInputV2"), str(path)))
    rows = read_all(CSVInput(data_config("CSVInputV2", "ignore_error: true"), str(path)))
    assert rows["title"] == [b"ok"] and sum(rows[MALFORMED_KEY]) == 1


def test_v2_wrong_number_is_named(tmp_path):
    path = tmp_path / "bad.csv"
    path.write_text('1,"x,y","abc"\n')
    with pytest.raises(MalformedRowError, match="column price: value abc is not a valid float"):
        read_all(CSVInput(data_config("CSVInputV2"), str(path)))


def test_v2_resumes_at_the_checkpointed_batch(tmp_path):
    path = tmp_path / "q.csv"
    path.write_text("".join(f'{i},"t,{i}",{i}\n' for i in range(40)))
    reader = CSVInput(data_config("CSVInputV2"), str(path), block_bytes=64)

    def dataset():
        return reader.make_dataset(4, num_epochs=1, shuffle=True, seed=5)

    straight = [b["label"].numpy().tolist() for b in dataset()]
    iterator = iter(dataset())
    first = [next(iterator)["label"].numpy().tolist() for _ in range(3)]
    saved = tf.train.Checkpoint(iterator=iterator).write(str(tmp_path / "ckpt"))
    next(iterator)
    restored = iter(dataset())
    tf.train.Checkpoint(iterator=restored).read(saved).assert_consumed()
    assert first + [b["label"].numpy().tolist() for b in restored] == straight


@pytest.mark.slow  # the reader is covered by the fast tests above
def test_v2_sample_trains_and_evaluates_on_quoted_titles(tmp_path):
    data = os.path.join(SAMPLES, "data", "movielens_quoted_500.csv")
    config = load_pipeline_config(os.path.join(SAMPLES, "options", "dnn_csv_v2_on_movielens.config"), {
        "model_dir": str(tmp_path / "m"), "train_input_path": data, "eval_input_path": data,
        "train_config.num_steps": 5, "data_config.batch_size": 64,
        "export_config.exporter_type": "none"}).config
    plan = ColumnPlan((), ("title",), None, (), (), {}, {})
    batch = next(iter(build_reader(config.data_config, data, plan).make_dataset(4)))
    assert batch["title"].numpy()[0] == b"Rock, The"
    trainer, results = train(config)
    assert int(trainer.global_step) == 5 and 0.0 < results["auc"] < 1.0
