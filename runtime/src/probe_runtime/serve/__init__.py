"""`probe-runtime serve`: an HTTP server for one artifact, with text-embeddings-inference's API.

Apps in any language reach a probe file over HTTP; TEI's clients work unchanged (``/predict``, ``/``,
``/embed``, ``/health``, ``/info``, ``/metrics``). Concurrent requests are coalesced into model runs by a
token budget (`probe_runtime.serve.batcher`); answers equal `Classifier`'s for the same texts.

Modules: ``settings`` (the limits), ``requests`` (what a body may hold), ``batcher`` (the queue and the
inference thread), ``metrics`` (Prometheus text), ``app`` (routes, auth, errors, access log) and ``server``
(uvicorn, the socket, graceful shutdown). Starlette and uvicorn are the optional ``serve`` extra: importing
`probe_runtime` never imports this package, and importing it without them raises an ImportError naming the
install command.
"""

from __future__ import annotations

INSTALL = 'pip install "probe-runtime[serve]"'

try:
    import starlette  # noqa: F401
    import uvicorn  # noqa: F401
except ImportError as exc:  # the optional extra is missing: say how to get it
    raise ImportError(f"probe-runtime serve needs Starlette and uvicorn, not installed here: {INSTALL}") from exc

from .app import Server, build_app  # noqa: E402  (after the check: its error names the install command)
from .server import bind, serve  # noqa: E402
from .settings import Settings  # noqa: E402

__all__ = ["INSTALL", "Server", "Settings", "bind", "build_app", "serve"]
