"""Running the scoring service: options, the uvicorn server and its timeouts.

uvicorn handles SIGTERM and SIGINT: it stops accepting connections, lets the requests in flight
finish (up to `drain_secs`), then runs the app's shutdown (watcher and thread pool stopped).
"""
from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import uvicorn

from easy_rec.serving.app import Service, build_app
from easy_rec.serving.item_cache import ItemCache
from easy_rec.serving.limits import Limits
from easy_rec.serving.metrics import ServeMetrics
from easy_rec.serving.model_versions import EmbeddingStoreOptions, ModelVersions
from easy_rec.serving.recommend import FeatureTables, Recommender
from easy_rec.store.redis_client import connect, redacted

logger = logging.getLogger(__name__)


@dataclass
class ServeOptions:
    """Everything `serve` needs (see `python -m easy_rec.serve --help`)."""

    saved_model_dir: str
    port: int
    model_name: str = "model"
    host: str = "127.0.0.1"
    redis_url: str | None = None
    namespace: str = "easy_rec"
    tables: FeatureTables = field(default_factory=FeatureTables)
    keep_versions: int = 2
    poll_secs: float = 5.0
    num_threads: int = 4
    item_cache_size: int = 100_000
    item_cache_ttl_secs: float = 60.0
    limits: Limits = field(default_factory=Limits)
    max_connections: int = 1000
    keep_alive_secs: float = 5.0
    drain_secs: float = 30.0
    embedding_store: EmbeddingStoreOptions = field(default_factory=EmbeddingStoreOptions)


def build_service(options: ServeOptions) -> Service:
    """The service's parts (nothing is loaded or connected until the app starts)."""
    metrics = ServeMetrics()
    recommender = None
    if options.redis_url:
        from easy_rec.store.feature_store import FeatureStore

        store = FeatureStore(connect(options.redis_url), namespace=options.namespace)
        recommender = Recommender(store, options.redis_url, options.tables,
                                  ItemCache(options.item_cache_size, options.item_cache_ttl_secs),
                                  metrics)
        logger.info("feature store: %s (tables %s, %s)", redacted(options.redis_url),
                    options.tables.user_table, options.tables.item_table)
    models = ModelVersions(options.model_name, options.saved_model_dir, options.keep_versions,
                           options.poll_secs, options.embedding_store)
    return Service(models, recommender, options.limits, metrics,
                   ThreadPoolExecutor(max(options.num_threads, 1), thread_name_prefix="score"))


def serve(options: ServeOptions) -> None:
    """Serves until SIGTERM / SIGINT."""
    config = uvicorn.Config(
        build_app(build_service(options)), host=options.host, port=options.port,
        limit_concurrency=options.max_connections, timeout_keep_alive=options.keep_alive_secs,
        timeout_graceful_shutdown=options.drain_secs, access_log=False, log_level="warning",
        lifespan="on")
    logger.info("serving model %s from %s on http://%s:%d", options.model_name,
                options.saved_model_dir, options.host, options.port)
    uvicorn.Server(config).run()
