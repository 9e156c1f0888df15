"""What a client may send, checked field by field: every mistake is one `RequestError` naming the field.

The shapes are text-embeddings-inference's (TEI's OpenAPI, v1.x), so its clients work unchanged:

- ``/predict`` and ``/``: ``{"inputs": PredictInput, "raw_scores": bool, "truncate": bool | null,
  "truncation_direction": "right"}``, where PredictInput is one text (``"a text"`` or ``["a text"]``) or a
  batch, a list of one-text lists (``[["first"], ["second"]]``). TEI reads a list of two strings as a text
  *pair* (cross-encoders); a probe classifies single texts, so a pair is refused with the batch spelling.
- ``/embed``: ``{"inputs": "a text" | ["a", "b", ...], "normalize": bool, "truncate": …}``.
- ``/classify`` (probe's own route): ``{"inputs": "a text" | ["a", "b", ...], "truncate": …}``.

Unknown fields are ignored, as TEI ignores them. Nothing here knows about HTTP beyond the status codes.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from ..errors import InputError
from ..text_input import check_text

__all__ = ["RequestError", "TextsRequest", "parse_body", "plain_texts_request", "predict_request"]

BATCH_EXAMPLE = '[["first text"], ["second text"]]'


class RequestError(Exception):
    """A request the server will not run: its HTTP status, the message for the client, TEI's error type."""

    def __init__(self, status: int, message: str, error_type: str = "validation") -> None:
        super().__init__(message)
        self.status = status
        self.message = message
        self.error_type = error_type


def invalid(message: str) -> RequestError:
    """422: the request is well-formed HTTP but a field is wrong (the message names it and the fix)."""
    return RequestError(422, message)


@dataclass(frozen=True)
class TextsRequest:
    """A checked request: the texts, whether one text (not a batch) was sent, and the options."""

    texts: list[str]
    single: bool
    raw_scores: bool = False
    truncate: bool | None = None  # None: the server's --auto-truncate decides
    normalize: bool = True


def _kind(value: Any) -> str:
    return {dict: "an object", list: "a list", str: "a string", bool: "a boolean", type(None): "null"}.get(
        type(value), "a number"
    )


def parse_body(body: bytes) -> dict[str, Any]:
    """The body as a JSON object, or 422 saying what is wrong with it."""
    if not body.strip():
        raise invalid('the body is empty; send a JSON object such as {"inputs": "a text"}')
    try:
        data = json.loads(body)
    except (ValueError, RecursionError) as exc:  # JSONDecodeError and bad UTF-8 are ValueErrors; deep nesting
        reason = str(exc) if isinstance(exc, ValueError) else "nested too deeply"
        raise invalid(
            f'the body is not valid JSON ({reason}); send a JSON object such as {{"inputs": "a text"}}'
        ) from None
    if not isinstance(data, dict):
        raise invalid(f'the body is {_kind(data)}, not a JSON object; send {{"inputs": "a text"}}')
    return data


def _flag(data: dict[str, Any], name: str, default: bool) -> bool:
    value = data.get(name, default)
    if not isinstance(value, bool):
        raise invalid(f"{name} must be true or false, not {_kind(value)} ({json.dumps(value)[:40]})")
    return value


def _truncate(data: dict[str, Any]) -> bool | None:
    value = data.get("truncate")
    if value is not None and not isinstance(value, bool):
        raise invalid(f"truncate must be true, false or null, not {_kind(value)} ({json.dumps(value)[:40]})")
    direction = data.get("truncation_direction", "right")
    if not isinstance(direction, str) or direction.lower() not in ("right", "left"):
        raise invalid(f'truncation_direction must be "right", not {json.dumps(direction)[:40]}')
    if direction.lower() == "left":
        raise invalid('truncation_direction "left" is not supported: a probe reads a text from its start; use "right"')
    return value


def _text(value: Any, name: str) -> str:
    """A text to classify, or 422 naming ``name`` (not a string, empty, blank, a lone surrogate)."""
    if not isinstance(value, str):
        raise invalid(f"{name} must be a string, not {_kind(value)}")
    try:
        return check_text(value, name)
    except InputError as exc:
        raise invalid(str(exc).split("; drop it before calling")[0]) from None


def _inputs(data: dict[str, Any]) -> Any:
    if "inputs" not in data:
        raise invalid('inputs is missing; send {"inputs": "a text"}')
    return data["inputs"]


def predict_request(data: dict[str, Any]) -> TextsRequest:
    """TEI's PredictRequest: one text, or a batch of one-text lists (a pair is refused: see the module)."""
    inputs = _inputs(data)
    raw, truncate = _flag(data, "raw_scores", False), _truncate(data)
    if isinstance(inputs, str):
        return TextsRequest([_text(inputs, "inputs")], True, raw, truncate)
    if not isinstance(inputs, list):
        raise invalid(f"inputs must be a string or a batch like {BATCH_EXAMPLE}, not {_kind(inputs)}")
    if not inputs:
        raise invalid(f"inputs is an empty list; send a text or a batch like {BATCH_EXAMPLE}")
    if all(isinstance(item, str) for item in inputs):
        if len(inputs) == 1:
            return TextsRequest([_text(inputs[0], "inputs[0]")], True, raw, truncate)
        what = "a text pair (TEI's reading of two strings)" if len(inputs) == 2 else f"a list of {len(inputs)} strings"
        raise invalid(
            f"inputs is {what}; this model classifies single texts: send a batch as {BATCH_EXAMPLE} "
            '(or use /classify, which takes ["first text", "second text"])'
        )
    texts = []
    for i, item in enumerate(inputs):
        if not isinstance(item, list):
            raise invalid(f'inputs[{i}] must be a one-text list like ["a text"] in a batch, not {_kind(item)}')
        if len(item) != 1:
            what = "a text pair" if len(item) == 2 else f"a list of {len(item)} items"
            raise invalid(f'inputs[{i}] is {what}; this model classifies single texts: send ["a text"]')
        texts.append(_text(item[0], f"inputs[{i}][0]"))
    return TextsRequest(texts, False, raw, truncate)


def plain_texts_request(data: dict[str, Any]) -> TextsRequest:
    """TEI's Input (``/embed``) and probe's ``/classify``: one text or a list of texts; ``normalize`` for /embed."""
    inputs = _inputs(data)
    truncate, normalize = _truncate(data), _flag(data, "normalize", True)
    if isinstance(inputs, str):
        return TextsRequest([_text(inputs, "inputs")], single=True, truncate=truncate, normalize=normalize)
    if not isinstance(inputs, list):
        raise invalid(f"inputs must be a string or a list of strings, not {_kind(inputs)}")
    if not inputs:
        raise invalid('inputs is an empty list; send a text or a list of texts such as ["a text"]')
    texts = [_text(item, f"inputs[{i}]") for i, item in enumerate(inputs)]
    return TextsRequest(texts, single=False, truncate=truncate, normalize=normalize)
