"""What a multi-label model directory adds: config.json's ``task`` and ``thresholds``, and the held-out texts
(eval.jsonl) with a JSON list of labels per text, [] for none.

Those are written as JSON lists so that the one multi-label reader (`data.load_multilabel`) reads them back, in the
model's label order, whatever characters the labels hold (a separator in a label name cannot split it).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from probe_runtime.choices import Task
from probe_runtime.errors import ArtifactError
from probe_runtime.records import LabelThresholds

from ..errors import ProbeError
from ..head_fit import damaged
from .data import load_multilabel

__all__ = ["multilabel_eval_records", "read_multilabel_eval", "task_fields"]


def task_fields(config_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """config.json's ``task`` (absent in older directories: single-label) and ``thresholds``, typed and checked."""
    task = config.get("task", Task.SINGLE_LABEL.value)
    if task not in Task.values():
        raise damaged(config_path, f"field 'task' is {task!r}, not one of {sorted(Task.values())}")
    thresholds = config.get("thresholds") or None
    try:
        recorded = None if thresholds is None else LabelThresholds.parse(thresholds, "thresholds")
    except ArtifactError as exc:
        raise damaged(config_path, str(exc).removeprefix("manifest ")) from None
    if Task(task) is Task.MULTI_LABEL and recorded is None:
        raise damaged(config_path, "a multi-label model needs its 'thresholds' (one per label)")
    return {"task": Task(task), "thresholds": recorded}


def multilabel_eval_records(
    labels: Sequence[Any], texts: Sequence[str], rows: Sequence[Any]
) -> Iterator[dict[str, Any]]:
    """One JSON object per text: the text and the list of the labels whose 0/1 entry is set."""
    for text, row in zip(texts, rows):
        yield {"text": text, "label": [label for label, on in zip(labels, row) if on]}


def read_multilabel_eval(path: Path, labels: Sequence[Any]) -> tuple[list[str], list[list[int]]]:
    """The texts and their 0/1 rows over ``labels``; a label the model lacks: the directory is damaged."""
    try:
        data = load_multilabel(path, labels=[str(label) for label in labels])
    except ProbeError as exc:
        raise damaged(path, str(exc).removeprefix(f"{path}, ").removeprefix(f"{path}: ")) from None
    return data.texts, data.y.tolist()
