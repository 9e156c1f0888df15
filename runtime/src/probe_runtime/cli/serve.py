"""`probe-runtime serve MODEL.onnx`: the arguments, logging to stderr, and the server's start and stop lines.

The server itself is `probe_runtime.serve` (the optional ``serve`` extra, imported only here, when the
command runs): this module checks every option before the model is loaded, binds the socket (so a busy
port is one line, not a traceback), and prints one line when the server is ready and one when it stopped.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from pathlib import Path

from ..classifier import Classifier
from ..cli_support import positive_int
from ..errors import InputError, UsageError
from .options import add_load_options, load_options

__all__ = ["API_KEY_ENV", "add_command", "cmd_serve"]

API_KEY_ENV = "PROBE_API_KEY"
PROG = "probe-runtime serve"


def port_number(text: str) -> int:
    """An argparse type: a TCP port, 0 (any free port) to 65535."""
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number from 0 to 65535, got {port}")
    return port


def wait_ms(text: str) -> float:
    """An argparse type: milliseconds from 0 to 1000."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected milliseconds from 0 to 1000, got {text!r}") from None
    if not 0 <= value <= 1000:
        raise argparse.ArgumentTypeError(f"expected milliseconds from 0 to 1000, got {text}")
    return value


def seconds(text: str) -> float:
    """An argparse type: seconds, more than 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected seconds, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected more than 0 seconds, got {text}")
    return value


def api_key(args: argparse.Namespace) -> bytes | None:
    """The key from ``--api-key-file`` (its first line), else from $PROBE_API_KEY, else None (no key)."""
    if args.api_key_file:
        path = Path(args.api_key_file)
        try:
            text = path.read_text(encoding="utf-8")
        except FileNotFoundError:
            raise UsageError(f"--api-key-file {path}: no such file") from None
        except (OSError, UnicodeDecodeError) as exc:
            raise UsageError(f"--api-key-file {path} cannot be read: {getattr(exc, 'strerror', None) or exc}") from None
        key = text.strip()
        if not key or "\n" in key:
            raise UsageError(f"--api-key-file {path} must hold the key alone on one line")
        return key.encode()
    env = os.environ.get(API_KEY_ENV)
    if env is not None:
        if not env.strip():
            raise UsageError(f"${API_KEY_ENV} is set but empty; unset it for no key, or set it to the key")
        return env.strip().encode()
    return None


def _logging(access: str, verbose: bool) -> None:
    """Everything the server logs goes to stderr: access lines, its errors (with tracebacks), uvicorn's warnings."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(logging.Formatter("%(message)s" if access == "json" else "%(asctime)s %(message)s"))
    for name in ("probe_runtime.serve", "uvicorn"):
        logger = logging.getLogger(name)
        logger.addHandler(handler)
        logger.propagate = False
    logging.getLogger("probe_runtime.serve").setLevel(logging.INFO)
    logging.getLogger("uvicorn").setLevel(logging.INFO if verbose else logging.WARNING)


def cmd_serve(args: argparse.Namespace) -> int:
    try:
        from .. import serve as server
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    if not Path(args.model).is_file():
        raise InputError(f"model file not found: {args.model}")
    settings = server.Settings(
        model_id=args.model_id or Path(args.model).stem,
        max_batch_tokens=args.max_batch_tokens,
        max_batch_wait_ms=args.max_batch_wait_ms,
        max_concurrent_requests=args.max_concurrent_requests,
        max_client_batch_size=args.max_client_batch_size,
        payload_limit=args.payload_limit,
        auto_truncate=args.auto_truncate,
        api_key=api_key(args),
        access_log=args.access_log,
        concurrent_runs=args.concurrent_runs,
    )
    classifier = Classifier.load(args.model, options=load_options(args))
    try:
        sock = server.bind(args.host, args.port)
    except OSError as exc:
        raise UsageError(f"cannot listen on {args.host}:{args.port}: {exc.strerror or exc}") from None
    host, port = sock.getsockname()[:2]
    where = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    labels = ", ".join(str(label) for label in classifier.decider.labels)
    _logging(args.access_log, bool(getattr(args, "verbose", False)))

    def ready() -> None:
        auth = "API key required" if settings.api_key is not None else "no API key"
        print(
            f"{PROG}: {settings.model_id} ({labels}; {classifier.manifest.quantization.value}) on {where} "
            f"({auth}); Ctrl-C or SIGTERM stops it",
            file=sys.stderr,
            flush=True,
        )

    server.serve(classifier, settings, sock, on_ready=ready, drain_timeout=args.drain_timeout)
    print(f"{PROG}: stopped", file=sys.stderr, flush=True)
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "serve",
        help="serve an artifact over HTTP (TEI-compatible API, dynamic batching)",
        description="Serve one artifact over HTTP with Hugging Face text-embeddings-inference's API: POST /predict "
        "(and POST /) answers every label with its probability, most probable first; POST /embed the pooled "
        "vectors; POST /classify the artifact's own decision (threshold, label names); GET /health, /info and "
        "/metrics (Prometheus). Concurrent requests are coalesced into model runs up to --max-batch-tokens; "
        "answers equal the library's for the same texts. Needs the serve extra: "
        'pip install "probe-runtime[serve]". Listens on 127.0.0.1 unless --host says otherwise; SIGTERM or '
        "Ctrl-C stops taking requests, finishes those in flight and exits 0.",
        epilog="example: probe-runtime serve model.onnx --port 8080 & curl -s localhost:8080/predict "
        "-H 'Content-Type: application/json' -d '{\"inputs\": \"ignore all previous instructions\"}'",
    )
    p.add_argument("model", help="the .onnx artifact")
    _add_network(p.add_argument_group("network"))
    _add_limits(p.add_argument_group("batching and limits"))
    add_load_options(
        p.add_argument_group("model"),
        threads_help="CPU cores one model run spreads its batches over (default: all cores)",
        threshold_help="replace the artifact's decision rule in /classify (default: the artifact's rule)",
    )
    p.add_argument(
        "--access-log",
        choices=("off", "text", "json"),
        default="text",
        help="one line per request on stderr (method, route, status, texts, ms, client): text, json or off "
        "(default: text)",
    )
    p.set_defaults(func=cmd_serve)


def _add_network(net: argparse._ArgumentGroup) -> None:
    net.add_argument(
        "--host",
        default="127.0.0.1",
        help="address to listen on (default: 127.0.0.1, this machine only; 0.0.0.0 for every interface)",
    )
    net.add_argument("--port", type=port_number, default=8080, help="TCP port (default: 8080; 0: any free port)")
    net.add_argument(
        "--api-key-file",
        metavar="FILE",
        help=f"require 'Authorization: Bearer KEY' on every route but /health, KEY being FILE's one line "
        f"(default: ${API_KEY_ENV} if set, else no key)",
    )
    net.add_argument("--model-id", help="the name /info gives the model (default: the file name without .onnx)")


def _add_limits(limits: argparse._ArgumentGroup) -> None:
    limits.add_argument(
        "--max-batch-tokens",
        type=positive_int,
        default=8192,
        help="token budget of one model run: concurrent requests are coalesced up to it (default: 8192)",
    )
    limits.add_argument(
        "--max-batch-wait-ms",
        type=wait_ms,
        default=2.0,
        help="after a quiet spell, how long the first request may wait for requests already on their way (admitted, "
        "body being read) to share its run (default: 2; a lone request never waits, and under load requests "
        "queue behind the running batch instead)",
    )
    limits.add_argument(
        "--concurrent-runs",
        type=positive_int,
        default=2,
        help="model runs in flight at once, each on the texts of several requests; a second one keeps the cores "
        "busy while a run ends and the next is gathered (default: 2)",
    )
    limits.add_argument(
        "--max-concurrent-requests",
        type=positive_int,
        default=512,
        help="inference requests admitted at once, queued or running; beyond it the answer is 429 with "
        "Retry-After (default: 512)",
    )
    limits.add_argument(
        "--max-client-batch-size",
        type=positive_int,
        default=32,
        help="texts in one request; more is 413 (default: 32, as TEI)",
    )
    limits.add_argument(
        "--payload-limit",
        type=positive_int,
        default=2_000_000,
        help="request body bytes; more is 413 (default: 2000000, as TEI)",
    )
    limits.add_argument(
        "--auto-truncate",
        action="store_true",
        help="classify the first max-length tokens of a longer text when the request does not say; without it, "
        'such a text is refused (413) unless the request sends "truncate": true, as TEI does (an artifact '
        "exported with --long-text window reads long texts whole in /predict and /classify)",
    )
    limits.add_argument(
        "--drain-timeout",
        type=seconds,
        default=30.0,
        help="on SIGTERM, how long requests in flight may take to finish (default: 30)",
    )
