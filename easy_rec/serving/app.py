"""The HTTP routes of the scoring service (a Starlette app).

TF Serving's REST API: ``POST /v1/models/<name>[/versions/<n>]:predict`` and ``GET
/v1/models/<name>[/versions/<n>][/metadata]``; easy_rec's own: ``POST /v1/models/<name>[/versions/<n>]
:recommend``, ``POST /v1/features/<table>:upsert``, ``GET /healthz``, ``/readyz`` and
``/metrics``. Errors are ``{"error": message}`` with the status of RequestError (503 when a
split export's embedding store is unreachable). Model and feature store calls block, so they
run in the service's thread pool, never on the event loop.
"""
from __future__ import annotations

import asyncio
import functools
import logging
import time
from collections.abc import Awaitable, Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass

import orjson
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response
from starlette.routing import Route

from easy_rec.serving.limits import Limits, read_json
from easy_rec.serving.metrics import ServeMetrics
from easy_rec.serving.model_versions import ModelVersion, ModelVersions
from easy_rec.serving.recommend import Recommender, parse_recommend
from easy_rec.serving.rest_codec import (
    RequestError,
    check_columns,
    encode_predict,
    parse_predict,
    to_inputs,
)
from easy_rec.serving.signature import SIGNATURE_KEY
from easy_rec.store.embedding_store import StoreUnavailableError, VersionNotReadableError

logger = logging.getLogger(__name__)

VERSION_HEADER = "X-Model-Version"


class FastJSONResponse(JSONResponse):
    """A JSON response encoded by orjson (a 200-score list several times faster than the
    json module; a NaN or infinite float is written as null)."""

    def render(self, content: object) -> bytes:
        return orjson.dumps(content)


@dataclass
class Service:
    """What the routes share: the model, the feature store side, bounds, metrics, threads."""

    models: ModelVersions
    recommender: Recommender | None
    limits: Limits
    metrics: ServeMetrics
    executor: ThreadPoolExecutor

    async def blocking(self, function: Callable, *args):
        """`function(*args)` on the thread pool."""
        return await asyncio.get_running_loop().run_in_executor(
            self.executor, functools.partial(function, *args))

    def version(self, request: Request) -> ModelVersion:
        """The model version a request addresses; 404 for another model or an unknown
        version, 503 while nothing is loaded."""
        name = request.path_params["name"]
        if name != self.models.name:
            raise RequestError(404, f"model {name!r} not found (serving {self.models.name!r})")
        number = request.path_params.get("version")
        version = self.models.get(number)
        if version is not None:
            return version
        if number is not None:
            raise RequestError(404, f"model {name!r} has no version {number} (loaded: "
                                    f"{', '.join(map(str, sorted(self.models.versions)))})")
        raise RequestError(503, f"model {name!r} has no version loaded yet")


def _error(status: int, message: str) -> FastJSONResponse:
    return FastJSONResponse({"error": message}, status_code=status)


def instrumented(service: Service, route: str,
                 handler: Callable[[Service, Request], Awaitable[Response]]):
    """`handler` as an endpoint: RequestError -> its JSON error; counted and timed."""
    async def endpoint(request: Request) -> Response:
        started = time.perf_counter()
        try:
            response = await handler(service, request)
        except RequestError as error:
            response = _error(error.status, error.message)
        except (StoreUnavailableError, VersionNotReadableError) as error:
            response = _error(503, f"embedding store unavailable: {error}")
        except Exception:
            logger.exception("%s %s failed", request.method, request.url.path)
            response = _error(500, "internal error (see the server log)")
        service.metrics.observe(route, response.status_code, time.perf_counter() - started)
        return response
    return endpoint


async def predict(service: Service, request: Request) -> Response:
    """TF Serving's predict."""
    version = service.version(request)
    parsed = parse_predict(await read_json(request, service.limits), SIGNATURE_KEY)
    signature = version.signatures.get(parsed.signature_name)
    if signature is None:
        raise RequestError(400, f"signature_name: the model has no signature "
                                f"{parsed.signature_name!r} (has "
                                f"{', '.join(sorted(version.signatures))})")
    service.limits.check_items(check_columns(parsed, signature),
                               "instances" if parsed.row_format else "inputs")

    def run() -> dict:
        inputs = to_inputs(parsed, signature, version.defaults)
        return encode_predict(signature(inputs, signature.output_names), parsed.row_format)

    return FastJSONResponse(await service.blocking(run),
                            headers={VERSION_HEADER: str(version.number)})


async def recommend(service: Service, request: Request) -> Response:
    """Scores of N items for one user from the feature store."""
    version = service.version(request)
    body = parse_recommend(await read_json(request, service.limits), service.limits)
    if service.recommender is None:
        raise RequestError(501, "recommend needs a feature store: start the server with "
                                "--redis_url")
    result = await service.blocking(service.recommender.recommend, version, body)
    return FastJSONResponse(result, headers={VERSION_HEADER: str(version.number)})


async def upsert(service: Service, request: Request) -> Response:
    """One row into the current version of a feature table."""
    if service.recommender is None:
        raise RequestError(501, "upserts need a feature store: start the server with "
                                "--redis_url")
    body = await read_json(request, service.limits)
    result = await service.blocking(service.recommender.upsert, request.path_params["table"],
                                    body)
    return FastJSONResponse(result)


async def model_status(service: Service, request: Request) -> Response:
    """TF Serving's model status: {"model_version_status": [...]}."""
    name = request.path_params["name"]
    if ":" in name:
        raise RequestError(405, f"{request.url.path}: use POST")
    if name != service.models.name:
        raise RequestError(404, f"model {name!r} not found (serving {service.models.name!r})")
    entries = service.models.status(request.path_params.get("version"))
    if not entries:
        raise RequestError(404, f"model {name!r} has no version "
                                f"{request.path_params.get('version')}")
    return FastJSONResponse({"model_version_status": entries})


def _tensor_info(name: str, dtype, batch: int | None, rank: int) -> dict:
    dims = [{"size": str(batch if batch is not None else -1)}] + [{"size": "-1"}] * (rank - 1)
    return {"dtype": f"DT_{dtype.name.upper()}", "tensor_shape": {"dim": dims}, "name": name}


async def model_metadata(service: Service, request: Request) -> Response:
    """TF Serving's model metadata: each signature's inputs and outputs (dtype, shape)."""
    version = service.version(request)
    signatures = {
        key: {"inputs": {name: _tensor_info(name, dtype, signature.input_batch[name], 1)
                         for name, dtype in signature.input_dtypes.items()},
              "outputs": {name: _tensor_info(name, spec.dtype, None, 1 + len(spec.example_shape))
                          for name, spec in signature.outputs.items()},
              "method_name": "tensorflow/serving/predict"}
        for key, signature in version.signatures.items()}
    return FastJSONResponse({
        "model_spec": {"name": service.models.name, "signature_name": "",
                       "version": str(version.number)},
        "metadata": {"signature_def": {"signature_def": signatures}}})


async def healthz(service: Service, request: Request) -> Response:
    """The process answers."""
    return FastJSONResponse({"status": "ok"})


async def readyz(service: Service, request: Request) -> Response:
    """200 once a version is loaded (503 before)."""
    version = service.models.get()
    if version is None:
        raise RequestError(503, "no model version loaded yet")
    return FastJSONResponse({"status": "ready", "model_version": str(version.number)})


async def metrics(service: Service, request: Request) -> Response:
    """Prometheus text format."""
    latest = service.models.get()
    if latest is not None:
        service.metrics.model_version.labels(service.models.name).set(latest.number)
    service.metrics.set_embedding_caches({
        n: v.split_runner.cache for n, v in service.models.versions.items() if v.split_runner})
    return Response(service.metrics.text(), media_type="text/plain; version=0.0.4")


# (path after /v1/models/<name>[/versions/<n>], method, metrics route, handler)
MODEL_ROUTES = [
    (":predict", "POST", "predict", predict),
    (":recommend", "POST", "recommend", recommend),
    ("", "GET", "status", model_status),
    ("/metadata", "GET", "metadata", model_metadata),
]
OTHER_ROUTES = [
    ("/v1/features/{table}:upsert", "POST", "upsert", upsert),
    ("/healthz", "GET", "healthz", healthz),
    ("/readyz", "GET", "readyz", readyz),
    ("/metrics", "GET", "metrics", metrics),
]
ROUTES = [(f"/v1/models/{{name}}{version}{suffix}", method, route, handler)
          for suffix, method, route, handler in MODEL_ROUTES
          for version in ("", "/versions/{version:int}")] + OTHER_ROUTES


def build_app(service: Service) -> Starlette:
    """The app: starts the watcher that loads the model's versions at start-up, and stops it
    and the thread pool at shutdown, after uvicorn has drained the requests in flight."""
    @asynccontextmanager
    async def lifespan(app: Starlette):
        service.models.start()
        yield
        await asyncio.to_thread(service.models.stop)
        service.executor.shutdown(wait=True)

    async def not_found(request: Request, error: HTTPException) -> Response:
        return _error(error.status_code, f"{error.detail}: {request.method} {request.url.path}")

    routes = [Route(path, instrumented(service, route, handler), methods=[method])
              for path, method, route, handler in ROUTES]
    return Starlette(routes=routes, lifespan=lifespan,
                     exception_handlers={HTTPException: not_found})
