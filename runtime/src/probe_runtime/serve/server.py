"""Run the app under uvicorn on a socket the caller bound, and stop gracefully on SIGTERM or Ctrl-C.

On the signal uvicorn stops accepting connections, lets the requests in flight finish (their texts are
already queued or running), then the app's shutdown runs what is left in the queue and ends the inference
thread. uvicorn re-raises the signal once it is done so that the process dies of it; a server that drained
cleanly should exit 0 instead, so `serve` puts a handler that ignores the re-raised signal in place first.
"""

from __future__ import annotations

import math
import signal
import socket
from collections.abc import Callable

import uvicorn

from ..classifier import Classifier
from ..errors import ProbeError
from .app import build_app
from .settings import Settings

__all__ = ["bind", "serve"]


def bind(host: str, port: int) -> socket.socket:
    """A listening TCP socket on ``host:port`` (port 0: a free one), IPv4 or IPv6 as ``host`` is spelled.

    Made with ``IPPROTO_TCP`` spelled out: asyncio turns Nagle's algorithm off (TCP_NODELAY) only on
    connections whose socket says so, and with Nagle on, a keep-alive client waited ~40 ms per answer for
    a delayed ACK (uvicorn writes the headers and the body separately).
    """
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except OSError:
        sock.close()
        raise
    sock.set_inheritable(True)
    return sock


def serve(
    classifier: Classifier,
    settings: Settings,
    sock: socket.socket,
    on_ready: Callable[[], None] | None = None,
    drain_timeout: float | None = 30.0,
) -> None:
    """Serve until SIGTERM/SIGINT, then drain (at most ``drain_timeout`` seconds for requests in flight)."""
    app, _ = build_app(classifier, settings, on_ready)
    config = uvicorn.Config(
        app,
        log_config=None,  # the caller configures logging; uvicorn's own loggers propagate to it
        access_log=False,  # the app writes its own line per request (route, texts, ms)
        lifespan="on",
        http="auto",  # httptools if installed (faster), else h11
        loop="auto",  # uvloop if installed, else asyncio
        ws="none",
        interface="asgi3",
        timeout_graceful_shutdown=None if drain_timeout is None else math.ceil(drain_timeout),
        server_header=False,
    )
    previous = {sig: signal.signal(sig, _ignore) for sig in (signal.SIGTERM, signal.SIGINT)}
    server = uvicorn.Server(config)
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
    if not server.started:
        raise ProbeError("the server did not start; the reason is in the log above")


def _ignore(signum: int, frame: object) -> None:
    """uvicorn re-raises the signal it drained on; the drain is done, so the process exits normally (0)."""
