"""Prometheus metrics of the service (GET /metrics, Prometheus text format): requests by route
and status code, latency by route, item cache hits and misses (their ratio as a gauge), missing
users and items, the newest version served, and the hot-id cache of each loaded split export
(hit ratio, lookups, bytes; docs/embedding_store.md)."""
from __future__ import annotations

from collections.abc import Mapping

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from easy_rec.store.hot_cache import HotRowCache

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)


class ServeMetrics:
    """The service's metrics, in a registry of their own."""

    def __init__(self):
        self.registry = CollectorRegistry()
        self.requests = Counter("easy_rec_requests", "requests by route and HTTP status code",
                                ["route", "code"], registry=self.registry)
        self.latency = Histogram("easy_rec_request_seconds", "request latency by route",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.cache = Counter("easy_rec_item_cache_lookups", "item cache lookups by result",
                             ["result"], registry=self.registry)
        self.cache_hit_ratio = Gauge("easy_rec_item_cache_hit_ratio",
                                     "item cache hits / lookups since start",
                                     registry=self.registry)
        self.missing = Counter("easy_rec_missing_features", "users / items without stored "
                               "features (training defaults used)", ["table"],
                               registry=self.registry)
        self.model_version = Gauge("easy_rec_model_version", "newest version served",
                                   ["model"], registry=self.registry)
        self.embedding_cache_hit_ratio = Gauge(
            "easy_rec_embedding_cache_hit_ratio", "hot-id cache hits / row lookups since the "
            "version loaded (split exports)", ["version"], registry=self.registry)
        self.embedding_cache_lookups = Gauge(
            "easy_rec_embedding_cache_lookups", "row lookups of the hot-id cache since the "
            "version loaded, by result", ["version", "result"], registry=self.registry)
        self.embedding_cache_bytes = Gauge(
            "easy_rec_embedding_cache_bytes", "bytes held by the hot-id cache",
            ["version"], registry=self.registry)
        self._hits = self._lookups = 0

    def observe(self, route: str, code: int, seconds: float) -> None:
        """Counts one request and its latency."""
        self.requests.labels(route, str(code)).inc()
        self.latency.labels(route).observe(seconds)

    def count_cache(self, hits: int, misses: int) -> None:
        """Counts item cache lookups."""
        self.cache.labels("hit").inc(hits)
        self.cache.labels("miss").inc(misses)
        self._hits += hits
        self._lookups += hits + misses
        if self._lookups:
            self.cache_hit_ratio.set(self._hits / self._lookups)

    def set_embedding_caches(self, caches: Mapping[int, HotRowCache]) -> None:
        """The cache gauges of the loaded split export versions (others' labels dropped)."""
        for gauge in (self.embedding_cache_hit_ratio, self.embedding_cache_lookups,
                      self.embedding_cache_bytes):
            gauge.clear()
        for number, cache in caches.items():
            version = str(number)
            self.embedding_cache_hit_ratio.labels(version).set(cache.hit_rate)
            self.embedding_cache_lookups.labels(version, "hit").set(cache.hits)
            self.embedding_cache_lookups.labels(version, "miss").set(cache.misses)
            self.embedding_cache_bytes.labels(version).set(cache.bytes)

    def text(self) -> bytes:
        """Every metric in Prometheus text format."""
        return generate_latest(self.registry)
