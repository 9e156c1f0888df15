"""The checks of the manifest's own scalar and list fields (labels, lengths, input names, ids…), one function a
field, as `record_fields.spec` takes them: kept beside `artifact.Manifest`, which names them in its field specs,
so the contract module itself stays a size one can read."""

from __future__ import annotations

from typing import Any

from .record_fields import field_error, is_int, is_number

# The inputs a graph may declare: the runtime knows how to feed these and nothing else.
INPUT_NAMES = ("input_ids", "attention_mask", "token_type_ids")
# Far above any encoder's position table (BERT 512, ModernBERT 8192): a bigger value is damage, not a model.
MAX_LENGTH_LIMIT = 1 << 17
Label = str | int


def _labels(name: str, value: Any) -> list[Label]:
    if not isinstance(value, list) or not all(isinstance(x, str) or is_int(x) for x in value):
        raise field_error(name, "a list of strings or integers", value)
    if len(value) < 2:
        raise field_error(name, "at least two labels", value)
    if len(set(value)) != len(value):
        raise field_error(name, "unique labels", value)
    return value


def _max_length(name: str, value: Any) -> int:
    if not (is_int(value) and 2 <= value <= MAX_LENGTH_LIMIT):
        raise field_error(name, f"an integer from 2 to {MAX_LENGTH_LIMIT}", value)
    return int(value)


def _input_names(name: str, value: Any) -> list[str]:
    if (
        not isinstance(value, list)
        or not all(isinstance(n, str) and n in INPUT_NAMES for n in value)
        or len(set(value)) != len(value)
        or "input_ids" not in value
    ):
        raise field_error(name, f"a list of distinct names from {list(INPUT_NAMES)} with input_ids", value)
    return value


def _temperature(name: str, value: Any) -> float:
    if not (is_number(value) and 0.01 <= value <= 100):
        raise field_error(name, "a number from 0.01 to 100 (1.0: no scaling)", value)
    return value


def _label_names(name: str, value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(x, str) and x.strip() for x in value):
        raise field_error(name, "a list of non-empty strings (or empty: the labels themselves)", value)
    if len(set(value)) != len(value):
        raise field_error(name, "unique display names", value)
    return value


def _token_id(name: str, value: Any) -> int:
    if not (is_int(value) and value >= 0):
        raise field_error(name, "a token id (an integer of 0 or more)", value)
    return int(value)


def _layer(name: str, value: Any) -> int:
    if not (is_int(value) and -MAX_LENGTH_LIMIT < value < MAX_LENGTH_LIMIT):
        raise field_error(name, "an integer layer index", value)
    return int(value)


def _encoder_layers(name: str, value: Any) -> int | None:
    if value is not None and not (is_int(value) and 0 <= value < MAX_LENGTH_LIMIT):
        raise field_error(name, "null or the number of encoder blocks in the graph (0 or more)", value)
    return None if value is None else int(value)
