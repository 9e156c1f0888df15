"""Catalogue: `probe-runtime serve` mistakes refused before anything is loaded or bound.

Mistakes in HTTP requests (413, 422, 429, 401) are specified in tests/runtime/test_serve.py.
"""

from __future__ import annotations

from collections.abc import Callable

from tests.catalogue.case import Case, Context, Outcome, probe_runtime


def _serve(*args: str) -> Callable[[Context], Outcome]:
    return lambda ctx: probe_runtime(["serve", str(ctx.model), *args])


def _key_file(text: str | None) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        path = ctx.tmp / "key"
        if text is not None:
            path.write_text(text, encoding="utf-8")
        return probe_runtime(["serve", str(ctx.model), "--api-key-file", str(path)])

    return run


def _missing_model(ctx: Context) -> Outcome:
    return probe_runtime(["serve", str(ctx.tmp / "nope.onnx")])


CASES = [
    Case(
        "serve-port-out-of-range",
        "serve",
        "`--port 70000`",
        _serve("--port", "70000"),
        "--port: expected a port number from 0 to 65535, got 70000",
        exit_code=2,
    ),
    Case(
        "serve-wait-too-long",
        "serve",
        "`--max-batch-wait-ms 5000` (a batching wait of seconds)",
        _serve("--max-batch-wait-ms", "5000"),
        "--max-batch-wait-ms: expected milliseconds from 0 to 1000",
        exit_code=2,
    ),
    Case(
        "serve-zero-limit",
        "serve",
        "`--max-concurrent-requests 0`",
        _serve("--max-concurrent-requests", "0"),
        "--max-concurrent-requests: must be at least 1",
        exit_code=2,
    ),
    Case(
        "serve-api-key-file-missing",
        "serve",
        "`--api-key-file` names no file",
        _key_file(None),
        "no such file",
        exit_code=2,
    ),
    Case(
        "serve-api-key-file-empty",
        "serve",
        "`--api-key-file` holds an empty line (no key)",
        _key_file("\n"),
        "must hold the key alone on one line",
        exit_code=2,
    ),
    Case("serve-model-missing", "serve", "the model file does not exist", _missing_model, "model file not found"),
]
