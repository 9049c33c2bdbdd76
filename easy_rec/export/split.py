"""Split export (export_config.embedding_store): the big embedding tables go to the Redis
embedding store, everything else to a SavedModel without them (docs/embedding_store.md).

The SavedModel has two signatures over the same raw input columns as an ordinary export:

- `embedding_ids`: raw features -> `emb_ids__<table>`, the sorted distinct row ids the batch
  needs from each stored table. It runs the model's own forward pass with every stored table
  answering zeros (layers/embedding.py `row_sources`), so every feature transform, and every
  lookup however a model makes it, stays in the graph; TensorFlow prunes the unused rest.
- `serving_default`: the raw features plus, per stored table, those ids and their rows
  (`emb_rows__<table>` [n, dim] float32) -> the usual outputs; each lookup finds its rows by
  binary search (tf.searchsorted) in the ids.

When export_config declares user features, a 1 × N pair joins them (user_items.py): an ids
signature and `score_user_items`, whose user-side inputs have batch 1 and the others batch N.
The user-side features are encoded and their ids looked up once (one row per user-side id, not
N), and their rows broadcast to the N items after the lookup, as in an unsplit export's
score_user_items. The export's store description (STORE_INFO) maps each scoring signature to
its ids signature (`ids_signatures`).

Stock ops only; the stored tables' variables are detached from the model while it is saved,
so the SavedModel does not hold them. Plain TF Serving loads it but cannot do the lookups.
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass

import tensorflow as tf

from easy_rec.export.multi_value import to_ragged
from easy_rec.export.user_items import SIGNATURE as USER_ITEMS_SIGNATURE
from easy_rec.export.user_items import split_columns, user_items_function, user_items_specs
from easy_rec.layers.embedding import EmbeddingTable, RowSource, row_sources
from easy_rec.models.base import RankModel
from easy_rec.protos import embedding_store_pb2, pipeline_pb2
from easy_rec.store.embedding_store import EmbeddingStore, VersionInfo
from easy_rec.store.redis_client import connect, redacted

logger = logging.getLogger(__name__)

STORE_INFO = os.path.join("assets.extra", "embedding_store.json")
IDS_SIGNATURE = "embedding_ids"
#: the ids signature of the 1 × N scoring signature
USER_ITEMS_IDS_SIGNATURE = f"{IDS_SIGNATURE}__{USER_ITEMS_SIGNATURE}"
IDS_PREFIX = "emb_ids__"
ROWS_PREFIX = "emb_rows__"
DTYPE_NAMES = {embedding_store_pb2.EmbeddingStoreConfig.FLOAT32: "float32",
               embedding_store_pb2.EmbeddingStoreConfig.FLOAT16: "float16"}


@dataclass(frozen=True)
class StoreRelease:
    """How one split export uses the store: `version` (None: write a new one), whether it
    writes the tables' rows (EasyRec's --redis_write_kv), and the push its dense weights go
    with (0 for an export; trainer pushes publish dense models with their push number)."""

    version: str | None = None
    write_rows: bool = True
    push: int = 0


def store_settings(config: pipeline_pb2.EasyRecConfig
                   ) -> embedding_store_pb2.EmbeddingStoreConfig | None:
    """export_config.embedding_store when it names a Redis URL, else None."""
    export = config.export_config
    if export.HasField("embedding_store") and export.embedding_store.redis_url:
        return export.embedding_store
    return None


def stored_tables(model: RankModel, min_rows: int) -> dict[str, EmbeddingTable]:
    """The model's embedding tables with at least `min_rows` rows, by table module name."""
    return {t.name: t for t in model.feature_layer.embedding_tables() if t.num_ids >= min_rows}


def read_store_info(export_dir: str) -> dict | None:
    """The store description of a split export; None for an ordinary export."""
    try:
        with open(os.path.join(export_dir, STORE_INFO), encoding="utf-8") as f:
            return json.load(f)
    except FileNotFoundError:
        return None


class SplitServingModule(tf.Module):
    """The signatures of a split export over `model` (see the module docstring); with
    `user_features` (export.user_items.user_features) also the 1 × N pair."""

    def __init__(self, model: RankModel, specs: dict[str, tf.TensorSpec],
                 tables: dict[str, EmbeddingTable], user_features: Sequence[str] = ()):
        super().__init__(name="split_serving")
        self.model = model
        self._tables = tables
        self._multi_value = [name for name, spec in specs.items() if spec.shape.rank == 2]
        row_specs = {}
        for name, table in tables.items():
            row_specs[IDS_PREFIX + name] = tf.TensorSpec([None], tf.int64, name=IDS_PREFIX + name)
            row_specs[ROWS_PREFIX + name] = tf.TensorSpec([None, table.dim], tf.float32,
                                                          name=ROWS_PREFIX + name)
        clash = set(row_specs) & set(specs)
        if clash:
            raise ValueError(f"input columns {sorted(clash)} clash with the split export's "
                             "row inputs; rename them")
        self.embedding_ids = tf.function(self._ids, input_signature=[specs], autograph=False)
        self.serve = tf.function(self._serve, input_signature=[{**specs, **row_specs}],
                                 autograph=False)
        #: signature name -> function, the scoring signatures' ids signatures included
        self.functions = {"serving_default": self.serve, IDS_SIGNATURE: self.embedding_ids}
        #: scoring signature -> its ids signature
        self.ids_signatures = {"serving_default": IDS_SIGNATURE}
        if user_features:
            features = list(user_features)
            user, item = split_columns(model, features)
            one_by_n = user_items_specs(specs, user)
            self.functions[USER_ITEMS_IDS_SIGNATURE] = tf.function(
                user_items_function(model, features, item[0], self._ids),
                input_signature=[one_by_n], autograph=False)
            self.functions[USER_ITEMS_SIGNATURE] = tf.function(
                user_items_function(model, features, item[0], self._serve),
                input_signature=[{**one_by_n, **row_specs}], autograph=False)
            self.ids_signatures[USER_ITEMS_SIGNATURE] = USER_ITEMS_IDS_SIGNATURE

    def _forward(self, features: dict[str, tf.Tensor],
                 sources: dict[EmbeddingTable, RowSource]) -> dict[str, tf.Tensor]:
        with row_sources(sources):
            raw = to_ragged({k: v for k, v in features.items()
                             if not k.startswith((IDS_PREFIX, ROWS_PREFIX))}, self._multi_value)
            return self.model.serving_outputs(self.model(raw, training=False))

    def _ids(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        seen: dict[str, list[tf.Tensor]] = {name: [] for name in self._tables}

        def recorder(name: str, dim: int) -> RowSource:
            def source(ids: tf.Tensor) -> tf.Tensor:
                seen[name].append(tf.reshape(tf.cast(ids, tf.int64), [-1]))
                return tf.zeros(tf.concat([tf.shape(ids), [dim]], 0))
            return source

        self._forward(features, {t: recorder(n, t.dim) for n, t in self._tables.items()})
        return {IDS_PREFIX + name: tf.sort(tf.unique(tf.concat(
            ids or [tf.zeros([0], tf.int64)], 0))[0]) for name, ids in seen.items()}

    def _serve(self, features: dict[str, tf.Tensor]) -> dict[str, tf.Tensor]:
        def reader(name: str, dim: int) -> RowSource:
            def source(ids: tf.Tensor) -> tf.Tensor:
                flat = tf.reshape(tf.cast(ids, tf.int64), [-1])
                position = tf.searchsorted(features[IDS_PREFIX + name], flat)
                rows = tf.gather(features[ROWS_PREFIX + name], position)
                return tf.reshape(rows, tf.concat([tf.shape(ids), [dim]], 0))
            return source

        return self._forward(features, {t: reader(n, t.dim) for n, t in self._tables.items()})


@contextmanager
def detached(model: RankModel, tables: dict[str, EmbeddingTable]) -> Iterator[None]:
    """Takes the tables' variables off the model while active (so a save leaves them out);
    ValueError when the model still reaches one another way."""
    variables = {name: table.weights for name, table in tables.items()}
    for table in tables.values():
        del table.weights
    try:
        left = {v.ref() for v in model.variables}
        held = [n for n, v in variables.items() if v.ref() in left]
        if held:
            raise ValueError(f"{type(model).__name__} holds the variables of {held} outside "
                             "their embedding tables, so they cannot be stored in Redis; raise "
                             "embedding_store.min_rows_to_store above their sizes")
        yield
    finally:
        for name, table in tables.items():
            table.weights = variables[name]


def save_split(model: RankModel, config: pipeline_pb2.EasyRecConfig, path: str,
               specs: dict[str, tf.TensorSpec], release: StoreRelease,
               user_features: Sequence[str] = ()) -> bool:
    """Writes the split SavedModel of `model` to `path` (and, as `release` says, its stored
    tables to Redis); False (nothing written) when no table reaches min_rows_to_store.
    `user_features` given: with the 1 × N signatures."""
    settings = store_settings(config)
    tables = stored_tables(model, settings.min_rows_to_store)
    if not tables:
        logger.warning("export_config.embedding_store: no embedding table has %d rows or more; "
                       "writing an ordinary export", settings.min_rows_to_store)
        return False
    store = EmbeddingStore(connect(settings.redis_url, timeout_secs=settings.timeout_secs),
                           settings.model_name)
    version = release.version or store.new_version_name()
    if release.write_rows:
        store.write_version(version, {n: t.weights.numpy() for n, t in tables.items()},
                            DTYPE_NAMES[settings.dtype], settings.num_buckets, settings.threads,
                            settings.batch_size, settings.expire_hours * 3600)
    info = store.version_info(version)
    check_tables(info, tables)
    module = SplitServingModule(model, specs, tables, user_features)
    try:
        with detached(model, tables):
            tf.saved_model.save(module, path, signatures=module.functions)
    except AttributeError as error:
        raise ValueError(f"{type(model).__name__} reads a stored embedding table whole ({error});"
                         " raise embedding_store.min_rows_to_store above its size") from None
    os.makedirs(os.path.dirname(os.path.join(path, STORE_INFO)), exist_ok=True)
    with open(os.path.join(path, STORE_INFO), "w", encoding="utf-8") as f:
        json.dump({"redis_url": redacted(settings.redis_url), "model": settings.model_name,
                   "version": version, "push": release.push, "dtype": info.dtype,
                   "tables": {n: t.dim for n, t in tables.items()},
                   "ids_signatures": module.ids_signatures}, f)
    return True


def check_tables(info: VersionInfo, tables: dict[str, EmbeddingTable]) -> None:
    """ValueError unless the version stores every table with the model's width."""
    for name, table in tables.items():
        stored = info.tables.get(name)
        if stored is None or stored.dim != table.dim:
            raise ValueError(f"embedding store {info.model!r} version {info.version} does not "
                             f"hold table {name} with {table.dim} columns")
