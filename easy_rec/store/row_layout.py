"""Where the embedding store keeps a row in Redis, and how a row is encoded (docs/embedding_store.md).

Keys of model M (all start `er:emb:M:`):

- `er:emb:M:current`: the version being served (a string; switched with one SET).
- `er:emb:M:versions`: sorted set of the versions written, scored by their write time.
- `er:emb:M:<V>:meta`: hash of version V: `state` (`writing` | `complete`), `dtype`,
  `num_buckets`, `tables` (JSON: table -> {dim, rows}), `pushes` (the last push number).
- `er:emb:M:<V>:pushes`: stream of V's pushes, one entry per push (`push`, `full`, and per
  table the pushed ids as little-endian int64 bytes).
- `er:emb:M:<V>:<table>:{M:<table>:<bucket>}`: hash of one bucket of a table; field = the
  row id as 8 little-endian bytes, value = the row as little-endian float32 / float16 bytes.
  The hash tag puts every bucket in its own cluster slot (each version's bucket b of a table
  in the same one).
"""
from __future__ import annotations

import numpy as np

PREFIX = "er:emb"
DTYPES = {"float32": np.dtype("<f4"), "float16": np.dtype("<f2")}
_MIX = np.uint64(0x9E3779B97F4A7C15)


def model_key(model: str, suffix: str) -> str:
    """A key of the model (suffix `current` or `versions`)."""
    return f"{PREFIX}:{model}:{suffix}"


def version_key(model: str, version: str, suffix: str) -> str:
    """A key of one version (suffix `meta` or `pushes`)."""
    return f"{PREFIX}:{model}:{version}:{suffix}"


def bucket_key(model: str, version: str, table: str, bucket: int) -> str:
    """The hash holding bucket `bucket` of `table` in `version`."""
    return f"{PREFIX}:{model}:{version}:{table}:{{{model}:{table}:{bucket}}}"


def buckets_of(ids: np.ndarray, num_buckets: int) -> np.ndarray:
    """Bucket of each int64 id: a multiplicative hash, so that consecutive ids spread."""
    mixed = ids.astype(np.uint64) * _MIX  # wraps around mod 2**64, as intended
    return ((mixed >> np.uint64(32)) % np.uint64(num_buckets)).astype(np.int64)


def id_fields(ids: np.ndarray) -> list[bytes]:
    """The hash field of each id."""
    packed = ids.astype("<i8").tobytes()
    return [packed[i:i + 8] for i in range(0, len(packed), 8)]


def pack_ids(ids: np.ndarray) -> bytes:
    """Ids as one little-endian int64 byte string (push records)."""
    return np.ascontiguousarray(ids, dtype="<i8").tobytes()


def unpack_ids(data: bytes) -> np.ndarray:
    """The inverse of pack_ids."""
    return np.frombuffer(data, dtype="<i8").astype(np.int64)


def encode_rows(rows: np.ndarray, dtype: str) -> list[bytes]:
    """Each row of a [n, dim] array as its stored bytes."""
    data = np.ascontiguousarray(rows, dtype=DTYPES[dtype])
    return [row.tobytes() for row in data]


def decode_rows(values: list[bytes], dim: int, dtype: str) -> np.ndarray:
    """[n, dim] float32 rows of stored values (all present)."""
    if not values:
        return np.zeros([0, dim], np.float32)
    return np.frombuffer(b"".join(values), dtype=DTYPES[dtype]).reshape(-1, dim).astype(np.float32)
