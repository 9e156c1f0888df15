"""The prompt-injection report's generalisation figures: recall per attack family (the never-trained one
included), injections placed in long documents under the artifact's window policy and under truncation,
and an operating point chosen for a stated false-positive budget on held-out benign data.

Kept apart from `benchmarks.prompt_injection_report` (which trains, exports and renders) because these
figures need only an exported file and the shipped CSVs.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.paths import REPO
from benchmarks.data import labelled

BROAD = REPO / "data" / "prompt_injections_broad"
DEEPSET_TEST = REPO / "data" / "prompt_injections" / "test.csv"
HELDOUT_FAMILY = "smuggling"  # data/prompt_injections_broad/families.py: never trained on
# Every evaluation file holding tagged injections (the family column); deepset's are untagged.
FAMILY_FILES = [
    BROAD / name
    for name in (
        "test_llm_warden.csv",
        "test_bipia_email.csv",
        "test_cyberseceval.csv",
        "test_garak.csv",
        "test_role_tags.csv",
        "test_smuggling.csv",
    )
]
LONG = BROAD / "test_long_documents.csv"
# The held-out benign rows an operating point may be chosen on: never trained on, and (NotInject's unseen
# trigger words, Open-Assistant's test prompts, long e-mail documents) unlike the short training prompts.
BENIGN_FILES = [BROAD / "trigger_benign.csv", BROAD / "test_open_assistant.csv", LONG]
FP_BUDGET = 0.05


def _rows(path: Path) -> list[dict[str, str]]:
    return labelled.records(path)


def positive_scores(artifact: Path, texts: list[str], long_text: str | None = None) -> np.ndarray:
    """The injection probability of each text by the exported file (its own long-text policy unless overridden)."""
    from probe_runtime import Classifier

    classifier = Classifier.load(str(artifact), long_text=long_text)
    positive = [str(label) for label in classifier.labels].index("1")
    return np.asarray(classifier.predict_proba(texts))[:, positive]


def family_recall(artifact: Path, threshold: float) -> dict[str, dict[str, float]]:
    """Recall on every family's held-out injections (all files pooled) at ``threshold``."""
    rows = [r for path in FAMILY_FILES for r in _rows(path) if r["label"] == "1" and r["family"]]
    scores = positive_scores(artifact, [r["text"] for r in rows])
    out: dict[str, dict[str, float]] = {}
    for family in sorted({r["family"] for r in rows}):
        mask = np.array([r["family"] == family for r in rows])
        out[family] = {"rows": int(mask.sum()), "recall": float(np.mean(scores[mask] >= threshold))}
    return out


def long_documents(artifact: Path, threshold: float) -> dict[str, dict[str, Any]]:
    """Recall by position and FPR on the long documents, under the artifact's policy and under truncation."""
    rows = _rows(LONG)
    texts, labels = [r["text"] for r in rows], np.array([int(r["label"]) for r in rows])
    out: dict[str, dict[str, Any]] = {}
    for policy in (None, "truncate"):
        flagged = positive_scores(artifact, texts, policy) >= threshold
        figures: dict[str, Any] = {"fpr": float(np.mean(flagged[labels == 0])), "rows": len(rows)}
        for place in ("start", "middle", "end"):
            mask = np.array([r["position"] == place for r in rows])
            figures[f"recall {place}"] = float(np.mean(flagged[mask]))
        out["artifact policy" if policy is None else "truncate"] = figures
    return out


def budget_operating_point(artifact: Path, budget: float = FP_BUDGET, seed: int = 0) -> dict[str, Any]:
    """The threshold that flags at most ``budget`` of a seeded half of the held-out benign rows (the highest
    threshold at that FPR), with the FPR it gives on the other half and the recall on every injection split."""
    benign = [r["text"] for path in BENIGN_FILES for r in _rows(path) if r["label"] == "0"]
    order = random.Random(seed).sample(range(len(benign)), len(benign))
    pick, check = order[: len(order) // 2], order[len(order) // 2 :]
    scores = positive_scores(artifact, benign)
    chosen = np.sort(scores[pick])[::-1]
    allowed = int(np.floor(budget * len(pick)))
    threshold = float(np.nextafter(chosen[allowed], 1.0)) if allowed < len(chosen) else 0.0
    injections = {path.stem: [r["text"] for r in _rows(path) if r["label"] == "1"] for path in [DEEPSET_TEST]}
    injections |= {path.stem: [r["text"] for r in _rows(path) if r["label"] == "1"] for path in FAMILY_FILES}
    recall = {name: float(np.mean(positive_scores(artifact, texts) >= threshold)) for name, texts in injections.items()}
    return {
        "budget": budget,
        "threshold": threshold,
        "chosen_on": len(pick),
        "fpr_chosen_half": float(np.mean(scores[pick] >= threshold)),
        "fpr_other_half": float(np.mean(scores[check] >= threshold)),
        "recall": recall,
        "families": family_recall(artifact, threshold),
    }


def generalisation(artifact: Path, threshold: float) -> dict[str, Any]:
    """Every figure of this module for one exported file at its own decision ``threshold``."""
    return {
        "families": family_recall(artifact, threshold),
        "long_documents": long_documents(artifact, threshold),
        "fp_budget": budget_operating_point(artifact),
    }


def lines(result: dict[str, Any], threshold: float) -> list[str]:
    """The figures as short text lines (what `make demo` prints after the per-split table)."""

    def pct(value: float) -> str:
        return f"{100 * value:.1f}"

    out = [f"recall per attack family at {threshold:.3f} ({HELDOUT_FAMILY}: never trained on)"]
    out += [f"  {family:<12}{v['rows']:>5} rows  {pct(v['recall']):>6} %" for family, v in result["families"].items()]
    out.append("long documents (> 256 tokens), injection at start / middle / end, and benign FPR")
    for policy, v in result["long_documents"].items():
        out.append(
            f"  {policy:<16}{pct(v['recall start']):>6} /{pct(v['recall middle']):>6} /{pct(v['recall end']):>6} %"
            f"   FPR {pct(v['fpr'])} %"
        )
    fb = result["fp_budget"]
    out.append(
        f"operating point for a {pct(fb['budget'])} % FP budget on held-out benign rows: "
        f"threshold {fb['threshold']:.3f}, FPR {pct(fb['fpr_other_half'])} % on the other half; recall "
        + ", ".join(f"{k} {pct(v)} %" for k, v in fb["recall"].items())
    )
    return out
