"""Synthetic multi-label data the tiny random encoder can learn: a text is ``pos`` when it holds a positive
word, ``neg`` when it holds a negative one (both, either or neither), and ``food`` when it is about dinner.

Written in the three layouts probe reads: a label cell joined by ``|`` (empty: no label), and one 0/1 column
per label."""

from __future__ import annotations

import csv
import random
from pathlib import Path

from tests.conftest import FILLER, NEGATIVE, POSITIVE

LABELS = ["food", "neg", "pos"]  # the order training finds them in: sorted
_SUBJECTS = ["the movie", "this film", "the plot", "our dinner", "the hotel", "our dinner"]


def multilabel_rows(n: int, seed: int) -> list[tuple[str, list[str]]]:
    """(text, its labels) with every combination of pos/neg present, and some texts with no label at all."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        subject = rng.choice(_SUBJECTS)
        has = {"pos": i % 4 in (0, 1), "neg": i % 4 in (1, 2)}
        words = [rng.choice(POSITIVE) if has["pos"] else "", rng.choice(NEGATIVE) if has["neg"] else ""]
        text = f"{subject} {rng.choice(FILLER)} {' and '.join(w for w in words if w) or 'there'}"
        labels = [label for label in LABELS if (label == "food" and "dinner" in subject) or has.get(label)]
        rows.append((text, labels))
    return rows


def write_cells(path: Path, rows: list[tuple[str, list[str]]], separator: str = "|") -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((text, separator.join(labels)) for text, labels in rows)
    return path


def write_columns(path: Path, rows: list[tuple[str, list[str]]], labels: list[str] = LABELS) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", *labels])
        writer.writerows((text, *(int(label in have) for label in labels)) for text, have in rows)
    return path
