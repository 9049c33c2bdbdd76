"""The recommend endpoint: score N items for one user from the features in the feature store.

A request ``{"user_id": u, "item_ids": [i1, ...], "context": {column: value}}`` is answered
by fetching the user's row once and the items' rows in one pipelined round trip (items found
in the in-process cache are not fetched), assembling the signature's inputs, scoring, and
returning the scores in item order. Each input column takes, in order: the request's
``context`` value, the request's user id / item id for the key columns, the item's stored
value, the user's stored value, else the config's default_val (the dtype's zero without
one). A user or item without a stored row is counted and named in the response.

Signatures: `score_user_items` when the export has it (inputs whose batch dimension is 1 take
one user-side value, the others one value per item), else `serving_default` with the user's
values repeated on every item row; a request may name either in ``signature_name``.
"""
from __future__ import annotations

import logging
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

import numpy as np

from easy_rec.export.user_items import SIGNATURE as TILE_SIGNATURE
from easy_rec.serving.item_cache import ItemCache
from easy_rec.serving.limits import Limits
from easy_rec.serving.metrics import ServeMetrics
from easy_rec.serving.model_versions import ModelVersion
from easy_rec.serving.rest_codec import (
    RequestError,
    bad_request,
    column_default,
    json_values,
    to_array,
)
from easy_rec.serving.signature import SIGNATURE_KEY, ServingSignature
from easy_rec.store.redis_client import redacted
from easy_rec.store.versions import TableNotFoundError

logger = logging.getLogger(__name__)

STORE_ORIGIN = "feature store"


@dataclass(frozen=True)
class FeatureTables:
    """The feature store tables of users and items, and the columns that hold their keys."""

    user_table: str = "user"
    item_table: str = "item"
    user_key: str = "user_id"
    item_key: str = "item_id"


@dataclass
class RecommendRequest:
    """A parsed recommend request (ids as given, so that "17" and 17 name the same row)."""

    user_id: str | int
    item_ids: list[str | int]
    context: dict = field(default_factory=dict)
    signature_name: str | None = None


def _is_id(value: object) -> bool:
    return isinstance(value, (str, int)) and not isinstance(value, bool)


def parse_recommend(body: object, limits: Limits) -> RecommendRequest:
    """Checks a recommend body; 400 naming the field that is wrong, 413 for too many items."""
    if not isinstance(body, dict):
        raise bad_request("the request body must be a JSON object")
    unknown = sorted(set(body) - {"user_id", "item_ids", "context", "signature_name"})
    if unknown:
        raise bad_request(f"unknown field {', '.join(unknown)} (fields: user_id, item_ids, "
                          "context, signature_name)")
    if not _is_id(body.get("user_id")):
        raise bad_request("user_id: required, a string or an integer")
    item_ids = body.get("item_ids")
    if not isinstance(item_ids, list) or not item_ids:
        raise bad_request("item_ids: required, a non-empty list")
    limits.check_items(len(item_ids), "item_ids")
    for index, item in enumerate(item_ids):
        if not _is_id(item):
            raise bad_request(f"item_ids[{index}]: {item!r} is not a string or an integer")
    context = body.get("context", {})
    if not isinstance(context, dict):
        raise bad_request("context: must be an object of column: value")
    signature_name = body.get("signature_name")
    if signature_name is not None and not isinstance(signature_name, str):
        raise bad_request("signature_name: must be a string")
    return RecommendRequest(body["user_id"], item_ids, context, signature_name)


@dataclass
class FetchedRows:
    """The stored rows of the request's user and items, as field -> stored text (None: not
    stored)."""

    user: dict[str, str] | None
    items: list[dict[str, str] | None]


class Recommender:
    """Fetches features, assembles and scores recommend requests (blocking: run it in the
    service's thread pool)."""

    def __init__(self, store, redis_url: str, tables: FeatureTables, cache: ItemCache,
                 metrics: ServeMetrics):
        self.store = store
        self.redis_url = redis_url
        self.tables = tables
        self.cache = cache
        self.metrics = metrics

    @contextmanager
    def _store_errors(self) -> Iterator[None]:
        """Feature store errors as RequestErrors: Redis down or a table being switched 503,
        a table never loaded 503 (naming it), a row the table's schema refuses 400."""
        import redis

        try:
            yield
        except (redis.RedisError, RuntimeError) as error:
            logger.warning("feature store %s: %s", redacted(self.redis_url),
                           type(error).__name__)
            raise RequestError(503, f"the feature store at {redacted(self.redis_url)} is "
                                    f"unavailable ({type(error).__name__}); retry later") \
                from None
        except TableNotFoundError as error:
            raise RequestError(503, str(error)) from None
        except ValueError as error:
            raise bad_request(f"row: {error}") from None

    def fetch(self, request: RecommendRequest) -> FetchedRows:
        """The user's row and the items' rows: cached items from the cache, the user and the
        other items in one pipelined round trip; 503 when the store is unavailable."""
        keys = [str(item) for item in request.item_ids]
        cached = self.cache.get_many(keys)
        wanted = list(dict.fromkeys(k for k in keys if k not in cached))
        tables = [(self.tables.user_table, [str(request.user_id)])]
        if wanted:
            tables.append((self.tables.item_table, wanted))
        with self._store_errors():
            rows = self.store.fetch_texts(tables)
        fetched = dict(zip(wanted, rows[1])) if wanted else {}
        self.cache.put_many({k: row for k, row in fetched.items() if row is not None})
        if self.cache.enabled:
            self.metrics.count_cache(len(keys) - len(wanted), len(wanted))
        if cached:
            fetched.update(cached)
        return FetchedRows(rows[0][0], [fetched[k] for k in keys])

    def _column(self, name: str, request: RecommendRequest, fetched: FetchedRows,
                per_item: bool) -> tuple[list, bool]:
        """The values of input `name` (one per item when `per_item`, else the user side's
        one) and whether it is a single value that stands for every row."""
        if name in request.context:
            return [request.context[name]], True
        if name == self.tables.user_key:
            return [request.user_id], True
        if per_item and name == self.tables.item_key:
            return request.item_ids, False
        user = None if fetched.user is None else fetched.user.get(name)
        if not per_item:
            return [user], True
        return [user if row is None else row.get(name, user) for row in fetched.items], False

    def _origin(self, name: str, request: RecommendRequest, fetched: FetchedRows,
                item: int | None) -> str:
        """Where the value of `name` for `item` came from, for error messages."""
        if name in request.context:
            return f"context.{name}"
        if name == self.tables.user_key:
            return "user_id"
        if item is not None and name == self.tables.item_key:
            return f"item_ids[{item}]"
        if item is not None and fetched.items[item] is not None and name in fetched.items[item]:
            return f"{STORE_ORIGIN} {self.tables.item_table}[{request.item_ids[item]}].{name}"
        return f"{STORE_ORIGIN} {self.tables.user_table}[{request.user_id}].{name}"

    def assemble(self, signature: ServingSignature, defaults: dict[str, str],
                 request: RecommendRequest, fetched: FetchedRows) -> dict[str, np.ndarray]:
        """The signature's inputs: one value for inputs of batch 1 (a 1 x N signature's user
        side), one per item for the others (a single value converted once and repeated)."""
        inputs = {}
        for name, dtype in signature.input_dtypes.items():
            per_item = signature.input_batch[name] != 1
            values, single = self._column(name, request, fetched, per_item)
            try:
                column = to_array(
                    values, dtype, column_default(signature, name, defaults),
                    signature.list_separators.get(name),
                    lambda index, n=name, s=single: self._origin(
                        n, request, fetched, None if s else index))
            except RequestError as error:
                if error.message.startswith(STORE_ORIGIN):
                    raise RequestError(500, error.message) from None
                raise
            inputs[name] = np.repeat(column, len(request.item_ids)) \
                if single and per_item else column
        return inputs

    def recommend(self, version: ModelVersion, request: RecommendRequest) -> dict:
        """The response body of a recommend request scored by `version`."""
        name = request.signature_name or (
            TILE_SIGNATURE if TILE_SIGNATURE in version.signatures else SIGNATURE_KEY)
        if name not in version.signatures:
            raise bad_request(f"signature_name: the model has no signature {name!r} (has "
                              f"{', '.join(sorted(version.signatures))})")
        signature = version.signatures[name]
        unknown = sorted(set(request.context) - set(signature.input_dtypes))
        if unknown:
            raise bad_request(f"context: {', '.join(unknown)} not an input of the model")
        fetched = self.fetch(request)
        inputs = self.assemble(signature, version.defaults, request, fetched)
        output = signature.output_names[0]
        scores = signature(inputs, [output])[output].reshape(len(request.item_ids), -1)[:, 0]
        missing_items = [item for item, row in zip(request.item_ids, fetched.items) if row is None]
        self.metrics.missing.labels(self.tables.user_table).inc(int(fetched.user is None))
        self.metrics.missing.labels(self.tables.item_table).inc(len(missing_items))
        return {"scores": json_values(scores, output), "output": output,
                "model_version": str(version.number), "signature_name": name,
                "missing_users": int(fetched.user is None),
                "missing_user_ids": [] if fetched.user is not None else [request.user_id],
                "missing_items": len(missing_items), "missing_item_ids": missing_items}

    def upsert(self, table: str, body: object) -> dict:
        """Writes one row into the current version of `table` (the user or the item table):
        ``{"key": k, "row": {field: value}}``, merged into the stored row. The store checks
        the fields and values against the table's schema (400 naming the field). The item
        cache forgets the row at once."""
        if table not in (self.tables.user_table, self.tables.item_table):
            raise RequestError(404, f"no feature table {table!r} (tables: "
                                    f"{self.tables.user_table}, {self.tables.item_table})")
        if not isinstance(body, dict) or set(body) != {"key", "row"}:
            raise bad_request('the body must be {"key": ..., "row": {field: value}}')
        if not _is_id(body["key"]) or body["key"] == "":
            raise bad_request("key: a non-empty string or an integer")
        row = body["row"]
        if not isinstance(row, dict) or not row:
            raise bad_request("row: a non-empty object of field: value")
        key = str(body["key"])
        with self._store_errors():
            self.store.upsert(table, key, row)
        if table == self.tables.item_table:
            self.cache.drop(key)
        return {"table": table, "key": key, "fields": sorted(row)}
