"""Redis connections for the stores: one place that reads the URL, the password and the timeouts.

The password comes from the URL (`redis://:secret@host:port/db`) or, when the URL has none,
from $EASY_REC_REDIS_PASSWORD (or an explicit `password` argument, e.g. EasyRec's
`--redis_passwd`). It never reaches a log line: use `redacted(url)` to name a server.
Transient connection errors are retried by redis-py's own `Retry` with exponential backoff.
"""
from __future__ import annotations

import os
from urllib.parse import urlsplit, urlunsplit

PASSWORD_ENV = "EASY_REC_REDIS_PASSWORD"


def redacted(url: str) -> str:
    """The URL with any password replaced by `***` (for logs, errors and responses)."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    user = parts.username or ""
    netloc = f"{user}:***@{parts.hostname}" + (f":{parts.port}" if parts.port else "")
    return urlunsplit(parts._replace(netloc=netloc))


def connect(url: str, password: str | None = None, timeout_secs: float = 5.0,
            retries: int = 2):
    """A redis-py client of `url` with socket timeouts and a bounded retry on connection errors.

    Connecting is lazy: the first command raises `redis.ConnectionError` when the server is down.
    """
    import redis
    from redis.backoff import ExponentialBackoff
    from redis.retry import Retry

    if urlsplit(url).scheme not in ("redis", "rediss", "unix"):
        raise ValueError(f"redis url {redacted(url)!r}: expected redis://host:port/db, "
                         "rediss://... or unix://path")
    if urlsplit(url).password is None:
        password = password or os.environ.get(PASSWORD_ENV) or None
    else:
        password = None
    extra = {"password": password} if password else {}
    return redis.Redis.from_url(
        url, socket_timeout=timeout_secs, socket_connect_timeout=timeout_secs,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError], **extra)
