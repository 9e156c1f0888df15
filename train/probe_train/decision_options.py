"""`probe train`'s options for the decisions a user sets, and the report lines that show their effect.

Kept apart from cli.py so the flags, their parsing and their report stay together (see
`probe_train.decisions` for what they do).
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from .label_names import parse_mapping
from .records import TrainReport

__all__ = ["add_decision_options", "decision_settings", "format_decisions"]


def add_decision_options(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group(
        "decisions",
        "Chosen on data the model did not fit: the probe's cross-validated predictions on DATA, the fine-tuned "
        "model's validation split. The artifact applies them; `probe-runtime classify --threshold` overrides.",
    )
    g.add_argument(
        "--operating-point",
        default="argmax",
        metavar="fpr=X|recall=X|precision=X|f1|argmax",
        help="two labels: store the threshold on the second label's probability that meets this target "
        "(fpr=0.01: at most 1%% false positives) (default: argmax)",
    )
    g.add_argument(
        "--min-score",
        type=float,
        help="three or more labels: answer 'abstain' when the best probability is below this",
    )
    g.add_argument(
        "--class-weight",
        metavar="balanced|LABEL=W,...",
        help="weight the loss by class: balanced (inverse frequency) or a weight per label (default: none)",
    )
    g.add_argument(
        "--label-names",
        metavar="LABEL=NAME,...|FILE.json",
        help="display names every output shows, e.g. 0=benign,1=injection (the original label stays available)",
    )
    g.add_argument(
        "--no-calibrate",
        dest="calibrate",
        action="store_false",
        help="do not fit temperature scaling (default: fitted on held-out data and folded into the graph)",
    )


def decision_settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings fields of these options (mappings parsed; values checked by the settings)."""
    weight = args.class_weight
    return {
        "operating_point": args.operating_point,
        "min_score": args.min_score,
        "class_weight": weight if weight in (None, "balanced") else parse_mapping(weight, "class_weight"),
        "calibrate": args.calibrate,
        "label_names": parse_mapping(args.label_names, "label_names") if args.label_names else None,
    }


def format_decisions(report: TrainReport, out: Path) -> str:
    """Calibration and the operating point on the test split, in a few lines (empty when neither was set)."""
    lines = []
    c = report.calibration
    if c:
        lines.append(
            f"  calibration: temperature {c['temperature']:g} (fitted on {c['fitted_on']}); test ECE "
            f"{c['ece_before']:.4f} → {c['ece_after']:.4f} ({c['ece_bins']}), Brier {c['brier_before']:.4f} → "
            f"{c['brier_after']:.4f}; reliability diagram: {out}/reliability.png"
        )
    if report.roc_auc is not None:
        lines.append(f"  ROC-AUC {report.roc_auc:.4f}   PR-AUC {report.pr_auc:.4f}")
    point = report.operating_point or {}
    for name, f in point.get("test", {}).items():
        at = "argmax" if name == "argmax" else f"threshold {f['threshold']:.4g} ({point['decision'].get('rule')}"
        at += "" if name == "argmax" else f"={point['decision'].get('target', '')})"
        lines.append(f"  at {at}: FPR {f['fpr']:.4f}, recall {f['recall']:.4f}, precision {f['precision']:.4f}")
    return "\n".join(lines)
