"""The versions of one served model: loaded, warmed up and swapped in atomically.

`--saved_model_dir` is one SavedModel (one version, numbered by its folder name when that is a
number, else 1) or an export folder of numbered versions (`<export_dir>/<timestamp>/`, as
training writes them). For a folder, a watcher thread looks for new versions every
`poll_secs`: a new one is loaded and warmed up (warmup.py) while the current versions keep
serving, then the set of versions is replaced in one assignment, so a request sees the old set
or the new one, never a half-loaded model. The newest `keep` versions stay addressable
(`/versions/<n>`); a request without a version gets the newest. A version whose folder is
removed is unloaded (rollback: remove the bad export), unless it is the last one. A version
that fails to load or warm up is reported in the status and not retried, except when its
embedding store is unreachable or not ready yet: that one is tried again at the next poll.

A split export (easy_rec/export/split.py) is served through a SplitModelRunner on its Redis
embedding store: its `serving_default` (and `score_user_items`, when it has the 1 × N pair)
takes the raw features like any export, the row lookups happen in process (docs/embedding_store.md). Point `--saved_model_dir` at
`<export root>/push` to follow the dense models a training job publishes with its pushes.
"""
from __future__ import annotations

import logging
import os
import threading
import time
from dataclasses import dataclass, field

from easy_rec.config.loader import load_pipeline_config
from easy_rec.export.exporter import list_exports
from easy_rec.export.split import read_store_info
from easy_rec.serving.signature import SIGNATURE_KEY, ServingSignature, load_saved_model
from easy_rec.serving.split_runner import DEFAULT_CACHE_BYTES, SplitModelRunner
from easy_rec.serving.warmup import warm_up
from easy_rec.store.embedding_store import StoreUnavailableError, VersionNotReadableError
from easy_rec.store.hot_cache import HotRowCache
from easy_rec.store.redis_client import connect, redacted
from easy_rec.utils.pipeline_files import saved_model_config_path

logger = logging.getLogger(__name__)


@dataclass
class ModelVersion:
    """One loaded version: its signatures, and the default_val of each input field of the
    config the export carries (assets/pipeline.config; empty without one)."""

    number: int
    path: str
    signatures: dict[str, ServingSignature]
    defaults: dict[str, str] = field(default_factory=dict)

    @property
    def split_runner(self) -> SplitModelRunner | None:
        """The runner of a split export's serving_default (its runners share one hot-id
        cache); None for an ordinary export."""
        runner = self.signatures.get(SIGNATURE_KEY)
        return runner if isinstance(runner, SplitModelRunner) else None


@dataclass(frozen=True)
class EmbeddingStoreOptions:
    """How split exports reach their embedding store: `redis_url` (None: the URL in the
    export's config; the password from the URL or $EASY_REC_REDIS_PASSWORD) and the byte bound
    of each loaded version's hot-id cache."""

    redis_url: str | None = None
    cache_bytes: int = DEFAULT_CACHE_BYTES
    timeout_secs: float = 2.0


#: load failures that pass: the embedding store is down, or the version's push is not yet in
RETRYABLE_ERRORS = (StoreUnavailableError, VersionNotReadableError)


def load_version(number: int, path: str,
                 store: EmbeddingStoreOptions = EmbeddingStoreOptions()) -> ModelVersion:
    """Loads every signature of the SavedModel at `path` (a split export: its runner as
    serving_default), then warms them up."""
    config_path = saved_model_config_path(path)
    config = load_pipeline_config(config_path).config if config_path else None
    defaults = {}
    if config is not None:
        defaults = {f.input_name: f.default_val for f in config.data_config.input_fields
                    if f.HasField("default_val")}
    if read_store_info(path) is not None:
        url = store.redis_url or (config.export_config.embedding_store.redis_url
                                  if config is not None else None)
        if not url:
            raise ValueError(f"{path} is a split export and its config names no Redis "
                             "embedding store: give --embedding_redis_url")
        signatures: dict[str, ServingSignature] = SplitModelRunner.load_all(
            path, connect(url, timeout_secs=store.timeout_secs),
            cache=HotRowCache(store.cache_bytes))
        logger.info("version %d is a split export on the embedding store at %s", number,
                    redacted(url))
    else:
        loaded = load_saved_model(path)
        signatures = {key: ServingSignature(path, key, loaded) for key in loaded.signatures}
    version = ModelVersion(number, path, signatures, defaults)
    started = time.perf_counter()
    count = warm_up(path, signatures, defaults)
    logger.info("loaded version %d from %s (signatures %s); %d warm-up request(s) in %.2f s",
                number, path, ", ".join(sorted(signatures)), count, time.perf_counter() - started)
    return version


def is_saved_model(path: str) -> bool:
    """Whether `path` is one SavedModel folder (rather than a folder of versions)."""
    return os.path.isfile(os.path.join(path, "saved_model.pb"))


class ModelVersions:
    """The served versions of one model and the watcher that keeps them current."""

    def __init__(self, name: str, base_path: str, keep: int = 2, poll_secs: float = 5.0,
                 store: EmbeddingStoreOptions = EmbeddingStoreOptions()):
        self.name = name
        self.store = store
        self.base_path = base_path
        self.keep = max(int(keep), 1)
        self.poll_secs = poll_secs
        self._versions: dict[int, ModelVersion] = {}  # replaced whole, never changed in place
        self.failed: dict[int, str] = {}  # version -> why it failed to load (replaced whole)
        self.waiting: dict[int, str] = {}  # version -> why it is retried (replaced whole)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    @property
    def versions(self) -> dict[int, ModelVersion]:
        """The loaded versions by number (a snapshot)."""
        return self._versions

    def get(self, number: int | None = None) -> ModelVersion | None:
        """The version `number`, or the newest for None; None when it is not loaded."""
        versions = self._versions
        if number is None:
            return versions[max(versions)] if versions else None
        return versions.get(number)

    def _on_disk(self) -> dict[int, str]:
        if is_saved_model(self.base_path):
            name = os.path.basename(os.path.normpath(self.base_path))
            return {int(name) if name.isdigit() else 1: self.base_path}
        return {int(name): os.path.join(self.base_path, name)
                for name in list_exports(self.base_path)
                if is_saved_model(os.path.join(self.base_path, name))}

    def refresh(self) -> None:
        """Loads the newest `keep` versions on disk that are not loaded yet, drops the others,
        then swaps the new set in."""
        on_disk = self._on_disk()
        failed = {n: message for n, message in self.failed.items() if n in on_disk}
        wanted = sorted(on_disk, reverse=True)[:self.keep]
        current = self._versions
        updated = {n: v for n, v in current.items() if n in wanted}
        waiting = {}
        for number in sorted(n for n in wanted if n not in current and n not in failed):
            try:
                updated[number] = load_version(number, on_disk[number], self.store)
            except RETRYABLE_ERRORS as error:
                waiting[number] = f"{type(error).__name__}: {error}"
                logger.warning("version %d (%s) waits for its embedding store, retried in "
                               "%.1f s: %s", number, on_disk[number], self.poll_secs,
                               waiting[number])
            except Exception as error:  # any other failure keeps the version out
                failed[number] = f"{type(error).__name__}: {error}"
                logger.error("version %d (%s) failed to load, not served: %s", number,
                             on_disk[number], failed[number])
        self.failed, self.waiting = failed, waiting  # replaced whole, as the versions are
        if not updated and current:  # every folder gone: keep serving what is loaded
            return
        if set(updated) != set(current):
            self._versions = updated
            logger.info("model %s serves versions %s (default %d)", self.name,
                        sorted(updated), max(updated) if updated else -1)

    def start(self) -> None:
        """Starts the watcher thread: it loads the current versions, then (for a folder of
        versions) looks for new ones every poll_secs. The service answers meanwhile (/readyz:
        503 until a version is loaded)."""
        self._thread = threading.Thread(target=self._watch, name="model-watcher", daemon=True)
        self._thread.start()

    def _watch(self) -> None:
        while True:
            try:
                self.refresh()
            except Exception:  # the watcher must outlive a bad poll
                logger.exception("looking for versions under %s failed", self.base_path)
            if (is_saved_model(self.base_path) and not self.waiting) \
                    or self._stop.wait(self.poll_secs):
                return

    def stop(self) -> None:
        """Stops the watcher (waits for a load in progress)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()

    def status(self, number: int | None = None) -> list[dict]:
        """TF Serving's model_version_status entries (all versions, or version `number`)."""
        entries = [(n, "AVAILABLE", "OK", "") for n in self._versions]
        entries += [(n, "END", "UNKNOWN", message) for n, message in self.failed.items()]
        entries += [(n, "LOADING", "UNAVAILABLE", message)
                    for n, message in self.waiting.items()]
        return [{"version": str(n), "state": state,
                 "status": {"error_code": code, "error_message": message}}
                for n, state, code, message in sorted(entries, reverse=True)
                if number is None or n == number]

