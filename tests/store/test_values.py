"""Stored text of feature values, the row JSON, and the key layout (no Redis needed)."""
import json
import zlib

import numpy as np
import pytest

from easy_rec.store.keys import TableKeys, bucket_of
from easy_rec.store.values import (
    column_texts,
    decode_row,
    encode_columns,
    encode_row,
    type_name,
    value_text,
)


@pytest.mark.parametrize("field_type,value,text", [
    ("INT64", " 017 ", "17"), ("INT64", np.int64(-5), "-5"), ("INT32", 7.0, "7"),
    ("FLOAT", 0.1, "0.1"), ("FLOAT", "1e3", "1000.0"), ("DOUBLE", "0.1", "0.1"),
    ("BOOL", "TRUE", "true"), ("BOOL", 0, "false"), ("STRING", "a|b", "a|b"),
    ("STRING", 17, "17"), ("STRING", b"x", "x"),
])
def test_value_text_is_canonical(field_type, value, text):
    assert value_text(field_type, value) == text


@pytest.mark.parametrize("field_type,value", [
    ("INT32", "1.5"), ("INT32", 2**31), ("INT64", 1.5), ("INT64", True), ("FLOAT", "abc"),
    ("BOOL", 2), ("BOOL", "yes"), ("STRING", 1.5),
])
def test_value_text_refuses_values_of_another_type(field_type, value):
    with pytest.raises(ValueError):
        value_text(field_type, value)


def test_columns_encode_as_rows_do_and_decode_typed():
    types = {"id": "INT64", "w": "FLOAT", "d": "DOUBLE", "ok": "BOOL", "s": "STRING"}
    columns = {"id": np.array([1, 2]), "w": np.array([0.1, 3], np.float32),
               "d": np.array([0.1, 1e300]), "ok": np.array([True, False]),
               "s": np.array([b'q"uote\\', "é|ü".encode()], dtype=object)}
    texts = {name: column_texts(types[name], values) for name, values in columns.items()}
    encoded = encode_columns(types, texts)
    assert encoded == [encode_row({n: texts[n][i] for n in types}) for i in range(2)]
    assert json.loads(encoded[1])["s"] == "é|ü"
    assert decode_row(types, encoded[0]) == {"id": 1, "w": 0.1, "d": 0.1, "ok": True,
                                             "s": 'q"uote\\'}
    assert np.float32(decode_row(types, encoded[1])["w"]) == np.float32(3)


def test_type_names_and_key_layout():
    assert type_name("int64") == "INT64" and type_name(4) == "FLOAT"
    with pytest.raises(ValueError, match="unknown field type"):
        type_name("LONG")
    keys = TableKeys("easy_rec", "user")
    assert (keys.current, keys.versions, keys.lock) == (
        "{easy_rec:user}:current", "{easy_rec:user}:versions", "{easy_rec:user}:lock")
    assert keys.bucket("3", 17) == "easy_rec:user:3:17"
    assert bucket_of("17", 1024) == zlib.crc32(b"17") % 1024  # as docs/serving.md says
    for bad in ("a{b", "a:b", "", "a b"):
        with pytest.raises(ValueError, match="non-empty name without braces"):
            TableKeys("easy_rec", bad)
