"""How a manifest record parses and checks itself: one check per field, named by its path.

Each record (`probe_runtime.records`) is a frozen dataclass whose fields name their JSON keys. A field's
``metadata["check"]`` (made by `spec` from a check below) turns the raw JSON value into the typed one or raises
one `ArtifactError` naming the field by its path (``verification.precision.candidates[0].passed``), so
parsing and validation are one step and a record that exists is valid. Hand-rolled rather than a validation
library because the runtime depends on onnxruntime, tokenizers and numpy only.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import MISSING, dataclass, field, fields
from enum import Enum
from typing import Any, TypeVar

from .choices import Choice
from .errors import ArtifactError

__all__ = [
    "Check",
    "Record",
    "check_fields",
    "choice",
    "count",
    "count_matrix",
    "counts_by_name",
    "field_error",
    "flag",
    "hashes_by_name",
    "integer",
    "is_int",
    "is_number",
    "json_object",
    "label_value",
    "number",
    "probabilities_by_name",
    "probability",
    "probability_rows",
    "record",
    "records",
    "scores_by_name",
    "spec",
    "text",
    "texts",
    "to_plain",
    "tolerance",
]

Check = Callable[[str, Any], Any]  # (the field's path, its raw value) -> the typed value, or ArtifactError
R = TypeVar("R", bound="Record")
C = TypeVar("C", bound=Choice)


def _shown(value: Any) -> str:
    text = repr(value)
    return f"{text[:60]}{'…' if len(text) > 60 else ''} ({type(value).__name__})"


def field_error(name: str, expected: str, value: Any) -> ArtifactError:
    """The one-line error for a manifest field: its path, what it must be, and what the file holds."""
    return ArtifactError(f"manifest field {name!r} must be {expected}, got {_shown(value)}")


def is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _json_value_error(value: Any) -> str | None:
    """Why ``value`` is not plain JSON data (None/bool/number/str/list/dict with str keys), if it is not."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, dict):
            if not all(isinstance(k, str) for k in item):
                return "has a non-string key"
            stack.extend(item.values())
        elif isinstance(item, (list, tuple)):
            stack.extend(item)
        elif not (item is None or isinstance(item, (bool, int, float, str))):
            return f"holds a {type(item).__name__}"
    return None


# --- checks: one per kind of value ----------------------------------------------------------------


def number(name: str, value: Any) -> float:
    if not is_number(value):
        raise field_error(name, "a number", value)
    return value  # an int stays an int: the manifest is written back exactly as read


def count(name: str, value: Any) -> int:
    if not (is_int(value) and value >= 0):
        raise field_error(name, "a count (an integer of 0 or more)", value)
    return int(value)


def integer(name: str, value: Any) -> int:
    if not is_int(value):
        raise field_error(name, "an integer", value)
    return int(value)


def text(name: str, value: Any) -> str:
    if not isinstance(value, str):
        raise field_error(name, "a string", value)
    return value


def probability(name: str, value: Any) -> float:
    if not (is_number(value) and 0 <= value <= 1):
        raise field_error(name, "a number from 0 to 1", value)
    return value


def label_value(name: str, value: Any) -> str | int:
    if not (isinstance(value, str) or is_int(value)):
        raise field_error(name, "a label (a string or an integer)", value)
    return value


def flag(name: str, value: Any) -> bool:
    if not isinstance(value, bool):
        raise field_error(name, "true or false", value)
    return value


def texts(name: str, value: Any) -> tuple[str, ...]:
    if not isinstance(value, (list, tuple)) or not all(isinstance(r, str) for r in value):
        raise field_error(name, "a list of strings", value)
    return tuple(value)


def probability_rows(name: str, value: Any) -> tuple[tuple[float, ...], ...]:
    """A non-empty list of equally long rows of probabilities (one row per text, one column per label)."""
    if (
        not isinstance(value, (list, tuple))
        or not value
        or not all(isinstance(row, (list, tuple)) and row and len(row) == len(value[0]) for row in value)
        or not all(is_number(p) and 0 <= p <= 1 for row in value for p in row)
    ):
        raise field_error(name, "a list of equally long lists of probabilities (0 to 1)", value)
    return tuple(tuple(row) for row in value)


def tolerance(name: str, value: Any) -> float:
    if not (is_number(value) and 0 < value < 1):
        raise field_error(name, "a number above 0 and below 1", value)
    return value


def counts_by_name(name: str, value: Any) -> dict[str, int]:
    if not isinstance(value, dict) or not all(is_int(v) and v >= 0 for v in value.values()):
        raise field_error(name, "an object of counts", value)
    return dict(value)


def json_object(name: str, value: Any) -> dict[str, Any]:
    """Any JSON object (nested plain data): for facts the runtime shows but never acts on."""
    if not isinstance(value, dict):
        raise field_error(name, "an object", value)
    problem = _json_value_error(value)
    if problem:
        raise ArtifactError(f"manifest field {name!r} must hold JSON data only, but it {problem}")
    return dict(value)


def scores_by_name(name: str, value: Any) -> dict[str, dict[str, float]]:
    """``{class: {precision: 0.9, recall: ..., support: 12}}``: per-class figures, numbers only."""
    if not isinstance(value, dict) or not all(
        isinstance(v, dict) and all(is_number(x) for x in v.values()) for v in value.values()
    ):
        raise field_error(name, "an object of per-class objects of numbers", value)
    return {k: dict(v) for k, v in value.items()}


def count_matrix(name: str, value: Any) -> tuple[tuple[int, ...], ...]:
    """A square matrix of counts (rows: true label, columns: predicted)."""
    if (
        not isinstance(value, (list, tuple))
        or not all(isinstance(row, (list, tuple)) and len(row) == len(value) for row in value)
        or not all(is_int(v) and v >= 0 for row in value for v in row)
    ):
        raise field_error(name, "a square list of lists of counts", value)
    return tuple(tuple(row) for row in value)


def probabilities_by_name(name: str, value: Any) -> dict[str, float]:
    """``{label: 0.35}``: a non-empty object of numbers from 0 to 1 (per-label thresholds)."""
    if (
        not isinstance(value, dict)
        or not value
        or not all(isinstance(k, str) and k for k in value)
        or not all(is_number(v) and 0 <= v <= 1 for v in value.values())
    ):
        raise field_error(name, "an object of numbers from 0 to 1 by label", value)
    return {k: float(v) for k, v in value.items()}


def hashes_by_name(name: str, value: Any) -> dict[str, str]:
    """``{file name: SHA-256 in hex}``."""
    if not isinstance(value, dict) or not all(
        isinstance(v, str) and len(v) == 64 and all(c in "0123456789abcdef" for c in v) for v in value.values()
    ):
        raise field_error(name, "an object of SHA-256 hex digests by file name", value)
    return dict(value)


def choice(kind: type[C]) -> Check:
    """One of ``kind``'s values (a member or its string), as the member."""

    def check(name: str, value: Any) -> C:
        if isinstance(value, str) and value in kind.values():
            return kind(value)
        raise field_error(name, "one of " + ", ".join(repr(c) for c in kind.values()), value)

    return check


def record(kind: type[R]) -> Check:
    def check(name: str, value: Any) -> R:
        return kind.parse(value, name)

    return check


def records(kind: type[R]) -> Check:
    def check(name: str, value: Any) -> tuple[R, ...]:
        if not isinstance(value, (list, tuple)):
            raise field_error(name, "a list", value)
        return tuple(kind.parse(item, f"{name}[{i}]") for i, item in enumerate(value))

    return check


def spec(check: Check) -> dict[str, Any]:
    """A field's metadata: how its JSON value is checked and typed."""
    return {"check": check}


def to_plain(value: Any) -> Any:
    """A typed value as JSON data (records as objects, enums as their values, tuples as lists)."""
    if isinstance(value, Record):
        return value.to_json_dict()
    if isinstance(value, Enum):
        return value.value
    if isinstance(value, (list, tuple)):
        return [to_plain(v) for v in value]
    if isinstance(value, dict):
        return {k: to_plain(v) for k, v in value.items()}
    return value


def check_fields(values: Mapping[str, Any], kind: type, where: str) -> dict[str, Any]:
    """The typed value of each field of dataclass ``kind`` present in ``values``; a missing field without a
    default is checked as None, so its error says what it must be. ``where`` prefixes the paths ("" for none)."""
    typed: dict[str, Any] = {}
    for f in fields(kind):
        if "check" not in f.metadata:
            continue
        if f.name in values:
            typed[f.name] = f.metadata["check"](f"{where}{f.name}", values[f.name])
        elif f.default is MISSING and f.default_factory is MISSING:
            f.metadata["check"](f"{where}{f.name}", None)
    return typed


@dataclass(frozen=True)
class Record:
    """A JSON object of the manifest with known, typed keys (see the module's docstring).

    An optional field defaults to None: absent from the file unless recorded."""

    extra: Mapping[str, Any] = field(default_factory=dict, kw_only=True)  # keys this version does not know

    @classmethod
    def parse(cls: type[R], value: Any, where: str) -> R:
        """The record from its JSON object, or one `ArtifactError` naming the first bad field."""
        if isinstance(value, cls):
            value = value.to_json_dict()  # re-checked: a record built in code is held to the same contract
        if not isinstance(value, dict):
            raise field_error(where, "an object", value)
        known = {f.name for f in fields(cls)}
        extra = {k: v for k, v in value.items() if k not in known}
        problem = _json_value_error(extra)
        if problem:
            raise ArtifactError(f"manifest field {where!r} must hold JSON data only, but it {problem}")
        return cls(**check_fields(value, cls, f"{where}."), extra=extra)

    def to_json_dict(self) -> dict[str, Any]:
        """The record as stored: known fields that are set, then the unknown ones, keys sorted."""
        plain = {k: to_plain(v) for k, v in self.extra.items()}
        for f in fields(self):
            value = getattr(self, f.name)
            if f.name != "extra" and value is not None:
                plain[f.name] = to_plain(value)
        return dict(sorted(plain.items()))
