"""A training label or weight as read from a CSV/TSV cell or a JSON value: a value, or one line saying what to write."""

from __future__ import annotations

import json
import math

from .errors import InputError

__all__ = ["MISSING_LABELS", "label_cell", "weight_cell"]

# Spellings of "no value" that data tools write into label columns; none of them is ever a real class.
MISSING_LABELS = {"nan", "null", "none"}


def label_cell(value: object, where: str) -> str | int:
    """A label as read from a cell or a JSON value; anything that means "no value" is refused, not a class."""
    if isinstance(value, str):
        label = value.strip()
        if not label:
            raise InputError(f"{where}: the label is empty. Every example needs a label: fill it in or remove the row.")
        if label.lower() in MISSING_LABELS:
            raise InputError(
                f"{where}: the label is {label!r}, a missing value, not a class. Fill it in or remove the row."
            )
        return label
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if value is None:
        raise InputError(f"{where}: the label is null, a missing value, not a class. Fill it in or remove the row.")
    described = {bool: "a boolean", float: "a number with a fraction part", list: "a list", dict: "an object"}
    hint = ' (write 1, or "1.0" as a string)' if isinstance(value, float) else ""
    raise InputError(
        f"{where}: the label {json.dumps(value)} is {described.get(type(value), type(value).__name__)}; "
        f"labels are strings or integers{hint}."
    )


def weight_cell(value: object, where: str) -> float:
    """A training weight as read from a cell or a JSON value: a finite number >= 0 (0 leaves the row out of
    the fit); anything else is refused with what to write instead."""
    if isinstance(value, str):
        text = value.strip()
        if not text:
            raise InputError(f"{where}: the weight is empty. Give every row a weight (1 = normal) or remove the row.")
        try:
            number = float(text)
        except ValueError:
            number = None
        shown = repr(text)
    elif isinstance(value, int | float) and not isinstance(value, bool):
        number, shown = float(value), json.dumps(value)
    else:
        number, shown = None, "null" if value is None else json.dumps(value)
    if number is None:
        raise InputError(f"{where}: the weight {shown} is not a number; write a number >= 0 (1 = normal).")
    if not math.isfinite(number) or number < 0:
        raise InputError(f"{where}: the weight {number:g} is not a finite number >= 0; write one (1 = normal).")
    return number
