"""Display names for labels and per-class weights: the user's mappings from label to value, parsed once.

``--label-names 0=benign,1=injection`` (or a JSON file holding ``{"0": "benign", "1": "injection"}``)
names integer-labelled data for every output; ``--class-weight balanced`` or ``0=1,1=5`` weights the
loss of the probe and of fine-tuning by class. Both name labels as the data spells them.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from .errors import FieldUsageError

__all__ = ["class_weights", "parse_mapping", "resolve_label_names"]


def parse_mapping(text: str, field: str) -> dict[str, str]:
    """``a=x,b=y``, or the path of a JSON file holding an object: label (as text) → value (as text).

    ``field``: the setting it is for, named in the errors."""
    flag = "{" + field + "}"
    if text.endswith(".json") or Path(text).is_file():
        try:
            data: Any = json.loads(Path(text).read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise FieldUsageError(f"{flag} {text}: cannot read a JSON object from it ({exc})", field) from None
        if not isinstance(data, dict):
            raise FieldUsageError(f'{flag} {text}: the file must hold a JSON object such as {{"0": "benign"}}', field)
        return {str(k): str(v) for k, v in data.items()}
    pairs = [part.partition("=") for part in text.split(",") if part.strip()]
    if not pairs or any(not sep or not key.strip() or not value.strip() for key, sep, value in pairs):
        raise FieldUsageError(
            f"{flag} must be LABEL=VALUE pairs separated by commas (e.g. 0=benign,1=injection), not {text!r}", field
        )
    return {key.strip(): value.strip() for key, _, value in pairs}


def _by_label(mapping: dict[str, str], labels: Sequence[Any], field: str) -> list[str]:
    flag = "{" + field + "}"
    known = [str(label) for label in labels]
    unknown = [key for key in mapping if key not in known]
    if unknown:
        raise FieldUsageError(f"{flag}: {unknown[0]!r} is not a label of the data ({known})", field)
    missing = [label for label in known if label not in mapping]
    if missing:
        raise FieldUsageError(f"{flag}: label {missing[0]!r} has no value; give one for every label ({known})", field)
    return [mapping[label] for label in known]


def resolve_label_names(mapping: dict[str, str] | None, labels: Sequence[Any]) -> list[str]:
    """One display name per label, in the labels' order (empty without a mapping); names must be unique."""
    if not mapping:
        return []
    names = _by_label(mapping, labels, "label_names")
    if len(set(names)) != len(names):
        raise FieldUsageError(
            f"{{label_names}} gives two labels the same name ({names}); names must be unique", "label_names"
        )
    return names


def class_weights(setting: str | dict[str, str] | None, labels: Sequence[Any], y: np.ndarray) -> np.ndarray | None:
    """The loss weight of each class index: None (all 1), ``balanced`` (n / (k · count), scikit-learn's
    rule), or a mapping label → positive number."""
    if setting is None:
        return None
    if setting == "balanced":
        from sklearn.utils.class_weight import compute_class_weight

        ks = np.arange(len(labels))
        return np.asarray(compute_class_weight("balanced", classes=ks, y=y), dtype=np.float64)
    if isinstance(setting, str):
        raise FieldUsageError(
            f"{{class_weight}} must be balanced or LABEL=WEIGHT pairs, not {setting!r}", "class_weight"
        )
    values = _by_label(setting, labels, "class_weight")
    try:
        weights = np.array([float(v) for v in values])
    except ValueError:
        raise FieldUsageError(f"{{class_weight}}: weights must be numbers, not {values}", "class_weight") from None
    if not (np.isfinite(weights).all() and (weights > 0).all()):
        raise FieldUsageError(f"{{class_weight}}: weights must be positive numbers, not {values}", "class_weight")
    return weights
