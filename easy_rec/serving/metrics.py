"""Prometheus metrics of the service (GET /metrics, Prometheus text format): requests by route
and status code, latency by route, item cache hits and misses (their ratio as a gauge), missing
users and items, and the newest version served."""
from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

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

    def text(self) -> bytes:
        """Every metric in Prometheus text format."""
        return generate_latest(self.registry)
