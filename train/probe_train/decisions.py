"""The decisions `probe train` makes on data the model did not fit: temperature, operating point.

Both methods hand over held-out logits: the probe's cross-validated predictions on its training data
(the C search's own out-of-fold predictions at the C it chose, `probe.cv_search` with ``held_out=True``:
the folds are not fitted twice), the fine-tuned model's on its validation split. On them, in this order:
1. the temperature (`calibration.fit_temperature`), because the artifact's probabilities are the
   scaled ones and a threshold must be chosen on what the runtime will see;
2. the operating point (`operating_point.choose_threshold`) on the scaled probabilities of the
   positive label (the second label), or the multi-class minimum score.
`test_report` then measures all of it on the test split for the report.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from probe_runtime.choices import DecisionRule
from probe_runtime.decision import DEFAULT_ABSTAIN_LABEL
from probe_runtime.records import Decision

from .calibration import calibration_figures, fit_temperature, reliability_diagram_png, scaled
from .errors import FieldUsageError
from .operating_point import choose_threshold, curves, operating_figures, parse_operating_point
from .settings import ProbeSettings

__all__ = ["POSITIVE_INDEX", "HeldOut", "choose_decisions", "test_report"]

POSITIVE_INDEX = 1  # binary tasks: the second label is the positive one (1 of 0/1 data)


@dataclass(frozen=True)
class HeldOut:
    """Logits for examples the model did not fit, their truth, and what they are (recorded)."""

    logits: np.ndarray
    y: np.ndarray
    source: str


def choose_decisions(held_out: HeldOut | None, settings: ProbeSettings, labels: list[Any]) -> tuple[float, Decision]:
    """The temperature (1.0 without calibration or held-out data) and the decision rule to store."""
    point = parse_operating_point(settings.operating_point)
    if point.binary and len(labels) != 2:
        raise FieldUsageError(
            f"{{operating_point}} {point} needs two labels, the data has {len(labels)}; use {{min_score}}",
            "operating_point",
            "min_score",
        )
    if settings.min_score is not None and len(labels) == 2:
        raise FieldUsageError(
            "{min_score} is for three or more labels; with two, use {operating_point}", "min_score", "operating_point"
        )
    if held_out is None:
        return 1.0, Decision()
    temperature = fit_temperature(held_out.logits, held_out.y) if settings.calibrate else 1.0
    if settings.min_score is not None:
        return temperature, Decision(
            rule=DecisionRule.MIN_SCORE, min_score=settings.min_score, abstain_label=DEFAULT_ABSTAIN_LABEL
        )
    if not point.binary:
        return temperature, Decision()
    scores = scaled(held_out.logits, temperature)[:, POSITIVE_INDEX]
    positive = held_out.y == POSITIVE_INDEX
    threshold = choose_threshold(scores, positive, point)
    return temperature, Decision(
        rule=point.rule,
        target=point.target,
        threshold=threshold,
        positive_label=labels[POSITIVE_INDEX],
        chosen_on=held_out.source,
        validation=operating_figures(scores, positive, threshold),
    )


def test_report(
    test_logits: np.ndarray, y: np.ndarray, temperature: float, decision: Decision, fitted_on: str | None
) -> tuple[dict[str, Any], bytes | None]:
    """The report's additions on the test split: calibration before/after, and for two labels ROC-AUC,
    PR-AUC, both curves and the figures at the threshold next to argmax; with the reliability diagram
    as PNG bytes (None without matplotlib: the report says how to get it)."""
    report: dict[str, Any] = {}
    if fitted_on is not None:
        report["calibration"] = calibration_figures(test_logits, y, temperature, fitted_on)
    proba = scaled(test_logits, temperature)
    if proba.shape[1] == 2 and len(y):
        scores, positive = proba[:, POSITIVE_INDEX], y == POSITIVE_INDEX
        report.update(curves(scores, positive))
        at = {"argmax": operating_figures(scores, positive, None).to_json_dict()}
        if decision.threshold is not None:
            at["threshold"] = operating_figures(scores, positive, decision.threshold).to_json_dict()
        report["operating_point"] = {"decision": decision.to_json_dict(), "test": at}
    elif decision.min_score is not None:
        report["operating_point"] = {"decision": decision.to_json_dict()}
    png = None
    if fitted_on is not None:
        try:
            png = reliability_diagram_png(test_logits, y, temperature, "reliability on the test split")
        except ImportError as exc:
            report["reliability_diagram"] = f"not drawn: {exc}"
    return report, png
