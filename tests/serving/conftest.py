"""A tiny SavedModel for batch prediction tests that need no training: inputs `s` (string),
`i` (int32) and `f` (float32); output `y` = hash(s) mod 1000 + 1000 * i + f (float64), so the
expected score of any row can be computed without the model (TinyModel.scores). And a Redis of
a test module's own, for the service tests that stop and restart it."""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest
import tensorflow as tf

HASH_BUCKETS = 1000


class _Tiny(tf.Module):
    @tf.function(input_signature=[tf.TensorSpec([None], tf.string, name="s"),
                                  tf.TensorSpec([None], tf.int32, name="i"),
                                  tf.TensorSpec([None], tf.float32, name="f")])
    def serve(self, s, i, f):
        hashed = tf.strings.to_hash_bucket_fast(s, HASH_BUCKETS)
        return {"y": tf.cast(hashed, tf.float64) + 1000.0 * tf.cast(i, tf.float64)
                + tf.cast(f, tf.float64)}


@dataclass(frozen=True)
class TinyModel:
    """The saved model's folder, and its scores computed from raw values."""

    path: str

    @staticmethod
    def scores(s: list[bytes], i: list[int], f: list[float]) -> np.ndarray:
        """y for each row (string values as the bytes training would hash)."""
        hashed = tf.strings.to_hash_bucket_fast(s, HASH_BUCKETS).numpy().astype(np.float64)
        return hashed + 1000.0 * np.asarray(i, np.float64) \
            + np.asarray(f, np.float32).astype(np.float64)


@pytest.fixture(scope="session")
def tiny_model(tmp_path_factory) -> TinyModel:
    """The tiny SavedModel (serving_default: s, i, f -> y)."""
    path = str(tmp_path_factory.mktemp("tiny") / "saved_model")
    module = _Tiny()
    tf.saved_model.save(module, path, signatures={"serving_default": module.serve})
    return TinyModel(path)


@pytest.fixture(scope="module")
def redis(tmp_path_factory):
    """A Redis of this module's own (outage tests stop and restart it)."""
    from redis_server import RedisServer

    server = RedisServer(str(tmp_path_factory.mktemp("serve_redis")))
    server.start()
    yield server
    server.stop()
