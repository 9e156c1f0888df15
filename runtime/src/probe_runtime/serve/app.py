"""The HTTP application: TEI's routes over one `Classifier`, with limits, auth, metrics and an access log.

Routes (shapes in `probe_runtime.serve.requests` and the README):

- ``POST /predict`` and ``POST /`` (TEI routes ``/`` to predict for a classifier): every label with its
  probability, most probable first (``raw_scores``: log-probabilities, the logits up to a per-text constant);
- ``POST /embed``: the pooled vectors the head reads (L2-normalised unless ``"normalize": false``, as TEI);
- ``POST /classify``: probe's own answer per text, with the artifact's decision rule applied (threshold,
  abstain label; for a multi-label file ``labels``, every label that passes its threshold), which TEI's sorted
  list cannot carry;
- ``GET /health``, ``GET /info``, ``GET /metrics`` (Prometheus text).

Every request is answered: a mistake with 4xx and one sentence naming the field or the limit (TEI's
``{"error", "error_type"}`` body), a failure with 500 and a short message while the traceback goes to the
server's log, never to the client. Every request also makes one access-log line and one metrics sample.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import json
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import datetime, timezone
from typing import Any

import numpy as np
from starlette.applications import Starlette
from starlette.requests import ClientDisconnect, Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from .. import __version__
from ..classifier import Classifier
from .batcher import Batcher, Job, Kind
from .metrics import Metrics
from .requests import RequestError, TextsRequest, parse_body, plain_texts_request, predict_request
from .settings import Settings

__all__ = ["Server", "build_app", "error"]

log = logging.getLogger("probe_runtime.serve")
access_log = logging.getLogger("probe_runtime.serve.access")

INFERENCE_ROUTES = {"/predict": "predict", "/": "predict", "/embed": "embed", "/classify": "classify"}
INFO_ROUTES = ("/health", "/info", "/metrics")
CLIENT_CLOSED = 499  # nginx's code for "the client went away before the answer": logged and counted, never sent
_SPECIAL_TOKENS_BOUND = 8  # more special tokens than any tokenizer adds to one text ([CLS] … [SEP]: 2)
_TINY = float(np.finfo(np.float32).tiny)  # log(0) is -inf, which JSON cannot carry


def error(status: int, message: str, error_type: str, headers: dict[str, str] | None = None) -> JSONResponse:
    """TEI's error body: ``{"error": message, "error_type": type}``."""
    return JSONResponse({"error": message, "error_type": error_type}, status_code=status, headers=headers)


async def _read_body(request: Request, limit: int) -> bytes:
    """The body, refused (413) as soon as it is known to exceed ``limit`` bytes: never held whole if too big."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise RequestError(413, f"the body is {int(declared)} bytes, over the limit of {limit} (--payload-limit)")
    chunks, size = [], 0
    try:
        async for chunk in request.stream():
            size += len(chunk)
            if size > limit:
                raise RequestError(413, f"the body is over the limit of {limit} bytes (--payload-limit)")
            chunks.append(chunk)
    except ClientDisconnect:  # gone before its body arrived: counted and logged as such, not as a failure
        raise RequestError(CLIENT_CLOSED, "the client closed the connection", "validation") from None
    return b"".join(chunks)


async def _disconnected(request: Request) -> None:
    """Returns when the client closes its connection (the body has been read: nothing else can arrive)."""
    while True:
        message = await request.receive()
        if message["type"] == "http.disconnect":
            return


class Server:
    """The state behind the routes: the classifier, the batcher, the metrics and the admission count."""

    def __init__(self, classifier: Classifier, settings: Settings) -> None:
        self.classifier = classifier
        self.settings = settings
        self.labels = [str(label) for label in classifier.decider.labels]
        self.metrics = Metrics()
        self.in_flight = 0  # admitted inference requests (changed on the event loop only)
        self.arriving = 0  # of those, the ones still being read and checked: the batcher may wait for them
        self.batcher = Batcher(
            classifier,
            self.metrics,
            settings.max_batch_tokens,
            settings.max_batch_wait_ms / 1000,
            self._arriving,
            settings.concurrent_runs,
        )
        self.metrics.add_gauge("requests_in_flight", "Inference requests admitted (queued or running)", self._flight)
        self.metrics.add_gauge(
            "requests_reading", "Of those, requests whose body is being read or checked", self._arriving
        )
        self.metrics.add_gauge("queue_requests", "Requests waiting for the inference thread", self._queued)
        self.metrics.add_gauge("queue_texts", "Texts waiting for the inference thread", self._queued_texts)
        window = classifier.long_text.policy == "window"
        self.windows = window  # long texts are read whole, in windows, by /predict and /classify

    def _flight(self) -> float:
        return self.in_flight

    def _arriving(self) -> int:
        return self.arriving

    def _queued(self) -> float:
        return self.batcher.queued_requests

    def _queued_texts(self) -> float:
        return self.batcher.queued_texts

    # --- the wrapper every route goes through -------------------------------------------------------
    def endpoint(
        self, route: str, handler: Callable[[Request], Awaitable[tuple[Response, int]]], public: bool = False
    ) -> Callable[[Request], Awaitable[Response]]:
        """``handler`` with auth, error mapping, metrics and the access-log line around it."""

        async def run(request: Request) -> Response:
            start = time.perf_counter()
            texts = 0
            try:
                if not public:
                    self._authorize(request)
                response, texts = await handler(request)
            except RequestError as exc:
                response = error(exc.status, exc.message, exc.error_type, _retry_after(exc.status))
            except Exception:  # a bug or a model failure: logged with its traceback here, one line to the client
                log.exception("%s %s failed", request.method, route)
                response = error(500, "the server failed to answer this request; the cause is in its log", "backend")
            seconds = time.perf_counter() - start
            self.metrics.request(route, response.status_code, seconds)
            self._access(request, route, response.status_code, texts, seconds)
            return response

        return run

    def _authorize(self, request: Request) -> None:
        key = self.settings.api_key
        if key is None:
            return
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        # Constant time: how much of a guessed key was right must not show in the response time.
        if scheme.lower() != "bearer" or not hmac.compare_digest(token.strip().encode(), key):
            raise RequestError(
                401, "a valid API key is required: send the header Authorization: Bearer KEY", "unauthorized"
            )

    def _access(self, request: Request, route: str, status: int, texts: int, seconds: float) -> None:
        mode = self.settings.access_log
        if mode == "off" or not access_log.isEnabledFor(logging.INFO):
            return
        client = f"{request.client.host}:{request.client.port}" if request.client else "-"
        ms = round(seconds * 1000, 2)
        if mode == "json":
            now = datetime.now(timezone.utc).isoformat(timespec="milliseconds")
            fields = {"method": request.method, "route": route, "status": status, "texts": texts, "ms": ms}
            line = json.dumps({"time": now, **fields, "client": client})
        else:
            line = f"{request.method} {route} {status} texts={texts} ms={ms} client={client}"
        access_log.info(line)

    # --- inference routes ----------------------------------------------------------------------------
    async def _admitted(
        self, request: Request, parse: Callable[[dict[str, Any]], TextsRequest], kind: Kind
    ) -> tuple[TextsRequest, np.ndarray | None, list[bool]]:
        """Admit, read, check, queue and wait: (the request, its rows or None if the client left, truncated flags)."""
        limit = self.settings.max_concurrent_requests
        if self.in_flight >= limit:
            raise RequestError(
                429, f"the server is at its limit of {limit} concurrent requests; retry shortly", "overloaded"
            )
        self.in_flight += 1
        self.arriving += 1
        try:
            try:
                req = parse(parse_body(await _read_body(request, self.settings.payload_limit)))
                most = self.settings.max_client_batch_size
                if len(req.texts) > most:
                    raise RequestError(
                        413, f"the batch has {len(req.texts)} texts, over the limit of {most} (--max-client-batch-size)"
                    )
                tokens, truncated = self._measure(req, kind)
            finally:
                self.arriving -= 1  # no await between this and the submit below: the batcher sees one or the other
            rows = await self._infer(request, Job(kind, req.texts, tokens, *_future()))
            return req, rows, truncated
        finally:
            self.in_flight -= 1

    def _measure(self, req: TextsRequest, kind: Kind) -> tuple[int, list[bool]]:
        """Tokens the texts weigh (the batch budget's unit) and which are longer than the model reads (413 unless
        truncation is allowed or the artifact reads long texts in windows).

        A short ASCII text cannot reach the maximum length (no normaliser expands ASCII, and every token but the
        few special ones covers at least one character), so it is not tokenized here, only estimated; the
        inference thread tokenizes every text anyway, and this saved ~65 us of the event loop per short text.
        """
        most = self.classifier.manifest.max_length
        tokens, truncated = 0, []
        for text in req.texts:
            if len(text) + _SPECIAL_TOKENS_BOUND < most and text.isascii():
                tokens += len(text) // 4 + 2
                truncated.append(False)
                continue
            # Clipped: a text far beyond the maximum length is cut before tokenizing (`batching.clip_text`).
            (encoding,), clipped = self.classifier.encoder.encode_clipped([text])
            tokens += len(encoding.ids) + sum(len(o.ids) for o in encoding.overflowing)
            truncated.append(bool(encoding.overflowing) or bool(clipped[0]))
        windows = self.windows and kind is Kind.PROBA
        allowed = req.truncate if req.truncate is not None else self.settings.auto_truncate
        if any(truncated) and not windows and not allowed:
            i = truncated.index(True)
            name = "inputs" if req.single else f"inputs[{i}]"
            raise RequestError(
                413,
                f"{name} is longer than the {most} tokens the model reads (max_input_length); send "
                f'"truncate": true to classify its first {most} tokens, or split the text',
            )
        return tokens, [t and not windows for t in truncated]

    async def _infer(self, request: Request, job: Job) -> np.ndarray | None:
        """The job's rows from the batcher, or None when the client went away first (the job is then dropped)."""
        try:
            self.batcher.submit(job)
        except RuntimeError:
            raise RequestError(503, "the server is shutting down", "unhealthy") from None
        watcher = asyncio.ensure_future(_disconnected(request))
        either: set[asyncio.Future[Any]] = {job.future, watcher}
        try:
            await asyncio.wait(either, return_when=asyncio.FIRST_COMPLETED)
        finally:
            watcher.cancel()
        if job.future.done():
            rows = job.future.result()  # the model's exception, if it failed, is raised here
            if isinstance(rows, np.ndarray):
                return rows
        self.batcher.cancel(job)
        job.future.cancel()
        return None

    async def predict(self, request: Request) -> tuple[Response, int]:
        req, rows, _ = await self._admitted(request, predict_request, Kind.PROBA)
        if rows is None:
            return Response(status_code=CLIENT_CLOSED), len(req.texts)
        scores = np.log(np.maximum(rows, _TINY)) if req.raw_scores else rows
        ranked = [
            [{"label": self.labels[j], "score": float(row[j])} for j in np.argsort(-proba, kind="stable")]
            for row, proba in zip(scores, rows)
        ]
        return JSONResponse(ranked[0] if req.single else ranked), len(req.texts)

    async def embed(self, request: Request) -> tuple[Response, int]:
        req, rows, _ = await self._admitted(request, plain_texts_request, Kind.EMBED)
        if rows is None:
            return Response(status_code=CLIENT_CLOSED), len(req.texts)
        if req.normalize:
            rows = rows / np.maximum(np.linalg.norm(rows, axis=1, keepdims=True), 1e-12)
        return JSONResponse(rows.tolist()), len(req.texts)

    async def classify(self, request: Request) -> tuple[Response, int]:
        req, rows, truncated = await self._admitted(request, plain_texts_request, Kind.PROBA)
        if rows is None:
            return Response(status_code=CLIENT_CLOSED), len(req.texts)
        decider, labels = self.classifier.decider, self.classifier.manifest.labels
        answers: list[dict[str, Any]] = []
        for row, index, cut in zip(rows, decider.indices(rows), truncated):
            chosen = int(index)
            abstained = chosen < 0
            answers.append(
                {
                    "label": decider.label(chosen),
                    "label_id": None if abstained else labels[chosen],
                    "score": float(row.max() if abstained else row[chosen]),
                    "scores": {label: float(p) for label, p in zip(self.labels, row)},
                    "truncated": cut,
                }
            )
        if decider.multi_label:  # every label that passes its threshold, most probable first
            for answer, applied in zip(answers, decider.label_sets(rows)):
                answer["labels"] = list(applied)
        return JSONResponse(answers[0] if req.single else answers), len(req.texts)

    # --- information routes --------------------------------------------------------------------------
    async def health(self, request: Request) -> tuple[Response, int]:
        if not self.batcher.alive:
            raise RequestError(503, "the inference thread is not running", "unhealthy")
        return Response(status_code=200), 0

    async def info(self, request: Request) -> tuple[Response, int]:
        return JSONResponse(self.describe()), 0

    async def metrics_text(self, request: Request) -> tuple[Response, int]:
        return PlainTextResponse(self.metrics.render(), media_type="text/plain; version=0.0.4"), 0

    async def not_found(self, request: Request) -> tuple[Response, int]:
        path = request.url.path
        if path in INFERENCE_ROUTES or path in INFO_ROUTES:
            allowed = "POST" if path in INFERENCE_ROUTES else "GET"
            raise RequestError(405, f"{path} takes {allowed}, not {request.method}")
        routes = ", ".join([*(f"POST {r}" for r in INFERENCE_ROUTES), *(f"GET {r}" for r in INFO_ROUTES)])
        raise RequestError(404, f"no route {path}; the routes are {routes}")

    def describe(self) -> dict[str, Any]:
        """`/info`: TEI's Info fields, then probe's own under ``probe`` (labels, decision, precision, limits)."""
        clf, s, m = self.classifier, self.settings, self.classifier.manifest
        dtype = "float32" if m.quantization.value == "none" else m.quantization.value
        return {
            "model_id": s.model_id,
            "model_sha": clf.sha256.get("graph"),
            "model_dtype": dtype,
            "model_type": {
                "classifier": {
                    "id2label": {str(i): label for i, label in enumerate(self.labels)},
                    "label2id": {label: i for i, label in enumerate(self.labels)},
                }
            },
            "max_concurrent_requests": s.max_concurrent_requests,
            "max_input_length": m.max_length,
            "max_batch_tokens": s.max_batch_tokens,
            "max_batch_requests": None,
            "max_client_batch_size": s.max_client_batch_size,
            "auto_truncate": s.auto_truncate,
            "tokenization_workers": 1,
            "version": __version__,
            "probe": {
                "labels": self.labels,
                "label_ids": list(m.labels),
                "decision": clf.decider.describe(),
                "threshold": clf.threshold,
                "task": m.task.value,
                "thresholds": clf.thresholds,
                "precision": m.quantization.value,
                "long_text": clf.long_text.policy,
                "base_encoder": m.base_encoder,
                "method": m.method.value,
                "threads": clf.threads,
                "payload_limit": s.payload_limit,
                "max_batch_wait_ms": s.max_batch_wait_ms,
                "concurrent_runs": s.concurrent_runs,
                "api_key_required": s.api_key is not None,
            },
        }


def _future() -> tuple[asyncio.Future[np.ndarray], asyncio.AbstractEventLoop]:
    loop = asyncio.get_running_loop()
    return loop.create_future(), loop


def _retry_after(status: int) -> dict[str, str] | None:
    return {"Retry-After": "1"} if status in (429, 503) else None


def build_app(
    classifier: Classifier, settings: Settings, on_ready: Callable[[], None] | None = None
) -> tuple[Starlette, Server]:
    """The ASGI app serving ``classifier``, and its state. ``on_ready`` runs once the inference thread runs.

    The inference thread starts with the app (ASGI lifespan) and, at shutdown, runs what is still queued
    before it stops (the ASGI server has stopped taking requests and waited for those in flight by then).
    """
    server = Server(classifier, settings)

    @contextlib.asynccontextmanager
    async def lifespan(app: Starlette) -> AsyncIterator[None]:
        server.batcher.start()
        if on_ready is not None:
            on_ready()
        try:
            yield
        finally:
            await asyncio.get_running_loop().run_in_executor(None, server.batcher.stop)

    routes = [
        Route(path, server.endpoint(path, getattr(server, name)), methods=["POST"])
        for path, name in INFERENCE_ROUTES.items()
    ]
    routes += [
        Route("/health", server.endpoint("/health", server.health, public=True), methods=["GET", "HEAD"]),
        Route("/info", server.endpoint("/info", server.info), methods=["GET"]),
        Route("/metrics", server.endpoint("/metrics", server.metrics_text), methods=["GET"]),
    ]
    any_method = ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE", "OPTIONS"]
    routes.append(Route("/{path:path}", server.endpoint("(other)", server.not_found), methods=any_method))
    return Starlette(routes=routes, lifespan=lifespan), server
