"""The REST codec's conversions and response forms, and the recommend path's feature store
errors, in process (no server, no model)."""
from __future__ import annotations

import numpy as np
import pyarrow as pa
import pytest
import tensorflow as tf
from redis_server import free_port

from easy_rec.serving.item_cache import ItemCache
from easy_rec.serving.metrics import ServeMetrics
from easy_rec.serving.recommend import FeatureTables, Recommender, RecommendRequest
from easy_rec.serving.rest_codec import RequestError, cell_text, encode_predict, to_array
from easy_rec.store.feature_store import FeatureStore
from easy_rec.store.redis_client import connect
from easy_rec.tables.convert import ColumnRule, convert_column


def where(index: int) -> str:
    return f"inputs.x[{index}]"


def test_json_values_become_the_column_dtype():
    assert to_array(["17", 18, None, " 19 "], tf.int64, "5", None, where).tolist() == [17, 18, 5, 19]
    assert to_array([True, "false", 1], tf.bool, "false", None, where).tolist() == [True, False, True]
    assert to_array([{"b64": "/w=="}, "a", ["x", "y"]], tf.string, "", "|", where).tolist() == [
        b"\xff", b"a", b"x|y"]
    np.testing.assert_allclose(to_array(["1.5", 2], tf.float32, "0", None, where), [1.5, 2.0])


@pytest.mark.parametrize("values, dtype, default", [
    (["17", None, "", " 19 ", "+3"], tf.int64, "5"),
    ([17, None, -(1 << 31)], tf.int32, "5"),
    ([b"a", None, b"", b"\xff"], tf.string, "z"),
    (["1", "true", "0", None], tf.bool, "false"),
    ([7, None], tf.int64, "5"),
    (["17", None, "", "-0", "007", "-2147483648"], tf.int32, "5"),  # canonical text
    (["Heat", None, "", "\u00e9t\u00e9"], tf.string, "z"),
    ([None, 3], tf.int64, " 5"),
])
def test_columns_of_one_kind_convert_as_their_cells(values, dtype, default):
    # whole columns of text or ints skip the cell per value; the result must not change
    cells = pa.array([cell_text(v, dtype, None) for v in values], pa.binary())
    expected = convert_column(cells, ColumnRule("", dtype, default)).values
    assert to_array(values, dtype, default, None, where).tolist() == expected.tolist()


@pytest.mark.parametrize("values, dtype, message", [
    (["1", "x"], tf.int64, "inputs.x[1]: 'x' is not a valid int64"),
    ([1.5], tf.int32, "inputs.x[0]: 1.5 is not a valid int32"),
    ([1, 1 << 31], tf.int32, "inputs.x[1]: 2147483648 is not a valid int32"),
    (["1", "2147483648"], tf.int32, "inputs.x[1]: '2147483648' is not a valid int32"),
    ([1, 1 << 70], tf.int64, "inputs.x[1]: 1180591620717411303424 is not a valid int64"),
    ([1, True], tf.int64, "inputs.x[1]: True is not a valid int64"),
    ([float("nan")], tf.float32, "inputs.x[0]: not a finite number"),
    ([{"code": "1"}], tf.string, "inputs.x[0]: an object"),
    ([[1, 2]], tf.int64, "inputs.x[0]: a list where a single value is expected"),
])
def test_values_a_column_cannot_take_are_400_naming_the_field(values, dtype, message):
    with pytest.raises(RequestError) as error:
        to_array(values, dtype, "0" if dtype != tf.string else "", None, where)
    assert error.value.status == 400 and error.value.message.startswith(message)


def test_responses_mirror_the_request_form():
    outputs = {"probs": np.array([0.25, 0.5], np.float32), "ids": np.array([b"a", b"\xff"], object)}
    assert encode_predict(outputs, row_format=True) == {"predictions": [
        {"probs": 0.25, "ids": "a"}, {"probs": 0.5, "ids": {"b64": "/w=="}}]}
    assert encode_predict({"probs": outputs["probs"]}, row_format=True) == {
        "predictions": [0.25, 0.5]}
    assert encode_predict(outputs, row_format=False) == {
        "outputs": {"probs": [0.25, 0.5], "ids": ["a", {"b64": "/w=="}]}}


def test_an_unreachable_store_is_503_without_the_password():
    url = f"redis://:s3cret@127.0.0.1:{free_port()}/0"
    recommender = Recommender(FeatureStore(connect(url, timeout_secs=1, retries=0)), url,
                              FeatureTables(), ItemCache(10, 60), ServeMetrics())
    with pytest.raises(RequestError) as error:
        recommender.fetch(RecommendRequest(1, [2]))
    assert error.value.status == 503 and "unavailable" in error.value.message
    assert "s3cret" not in error.value.message and ":***@127.0.0.1" in error.value.message


def test_item_cache_is_bounded_and_expires():
    cache = ItemCache(2, 60)
    cache.put_many({"a": {"x": 1}, "b": {"x": 2}})
    cache.get_many(["a"])
    cache.put_many({"c": {"x": 3}})  # b is the least recently used
    assert sorted(cache.get_many(["a", "b", "c"])) == ["a", "c"]
    expired = ItemCache(2, 1e-9)
    expired.put_many({"a": {"x": 1}})
    assert expired.get_many(["a"]) == {}
    assert not ItemCache(0, 60).enabled and not ItemCache(10, 0).enabled
