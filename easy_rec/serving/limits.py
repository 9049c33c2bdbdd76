"""The bounds that keep one request from hurting the others: body size, items per request,
the time a client may take to send its body (the HTTP server's own timeouts are set in
server.py)."""
from __future__ import annotations

import asyncio
from dataclasses import dataclass

import orjson
from starlette.requests import ClientDisconnect, Request

from easy_rec.serving.rest_codec import RequestError


@dataclass(frozen=True)
class Limits:
    """max_body_bytes: largest request body (413 past it); max_items: most rows of a predict
    request or items of a recommend request (413); body_timeout_secs: time to receive a body
    (408 past it)."""

    max_body_bytes: int = 1 << 20
    max_items: int = 1000
    body_timeout_secs: float = 10.0

    def check_items(self, count: int, field: str) -> None:
        """413 when `count` items exceed max_items."""
        if count > self.max_items:
            raise RequestError(413, f"{field}: {count} items, more than the limit of "
                                    f"{self.max_items} (--max_items)")


async def read_json(request: Request, limits: Limits) -> object:
    """The request's JSON body, read within the size and time bounds."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise _too_big(limits)
    try:
        async with asyncio.timeout(limits.body_timeout_secs):  # no task per request
            body = await _read_bounded(request, limits)
    except TimeoutError:
        raise RequestError(408, f"the request body did not arrive within "
                                f"{limits.body_timeout_secs:g} s") from None
    except ClientDisconnect:
        raise RequestError(400, "the client disconnected before sending the whole body") from None
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError as error:
        raise RequestError(400, f"the request body is not valid JSON: {error}") from None


async def _read_bounded(request: Request, limits: Limits) -> bytes:
    parts, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise _too_big(limits)
        parts.append(chunk)
    return b"".join(parts)


def _too_big(limits: Limits) -> RequestError:
    return RequestError(413, f"the request body is larger than {limits.max_body_bytes} bytes "
                             "(--max_body_bytes)")
