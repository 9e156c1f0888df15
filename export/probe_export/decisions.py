"""The decisions a trained model carries into the artifact, and their proof on the verification texts.

The model directory holds the temperature (already folded into the traced graph by `module`), the
operating point as the manifest's `Decision` JSON and the label display names; `decision_fields`
turns them into manifest fields. `decision_verification` measures the shipped graph at the stored
threshold (FPR, recall, precision on the labelled texts) next to argmax, for the manifest's
verification record, so `info` shows what the target became on data no choice was made on.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from probe_runtime.artifact import Manifest
from probe_train.model_dir import TrainedModel
from probe_train.multilabel.data import LabelLayout, MultiLabelDataset, load_multilabel
from probe_train.operating_point import operating_figures

__all__ = ["decision_fields", "decision_verification", "label_thresholds", "load_multilabel_eval"]


def label_thresholds(manifest: Manifest) -> np.ndarray | None:
    """A multi-label file's thresholds in its label order (what the gate and verification decide at); else None."""
    if manifest.thresholds is None:
        return None
    return np.array([manifest.thresholds.by_label[str(label)] for label in manifest.labels], dtype=np.float64)


def load_multilabel_eval(path: str, text_column: str, label_column: str, labels: list[Any]) -> MultiLabelDataset:
    """``probe export --eval FILE`` of a multi-label model: the file read as multi-label data, in the model's labels."""
    layout = LabelLayout(column=label_column)
    return load_multilabel(path, text_column, layout, labels=[str(label) for label in labels])


def decision_fields(trained: TrainedModel) -> dict[str, Any]:
    """The manifest's decision, temperature, label_names, task and per-label thresholds from the model directory
    (checked there)."""
    return {
        "task": trained.task,
        "thresholds": trained.thresholds,
        "decision": trained.decision,
        "temperature": trained.temperature,
        "label_names": list(trained.label_names),
    }


def decision_verification(manifest: Manifest, proba: np.ndarray, y: np.ndarray | None) -> dict[str, Any]:
    """``decision`` (at the stored threshold) and ``decision_argmax`` figures for `Verification`, two labels only."""
    d = manifest.decision
    if y is None or d.threshold is None or d.positive_label is None:
        return {}
    positive_index = manifest.labels.index(d.positive_label)
    scores, positive = proba[:, positive_index], np.asarray(y) == positive_index
    return {
        "decision": operating_figures(scores, positive, d.threshold),
        "decision_argmax": operating_figures(scores, positive, None),
    }
