"""The model card: what a reviewer reads before shipping a classifier, without running anything.

Markdown with a YAML header in the Hugging Face convention (``base_model``, ``pipeline_tag``, ``license``,
``datasets``, ``metrics``, ``model-index``), then: purpose and scope, training data, base encoder,
method and settings, test metrics (per-class precision/recall, confusion matrix), the exported precision
and what it costs against fp32, the operating threshold when one was set, the long-text policy, speed on
the exporting machine, and how to run it.

Every figure comes from what is stored (the artifact's manifest, or a model directory before export),
through `CardFacts`, so `probe export`, `probe report` and `ProbeClassifier.save` write the same card
for the same model. Sections whose facts are absent are left out rather than filled with guesses.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import yaml
from probe_runtime.artifact import CARD_MARKER, Manifest
from probe_runtime.choices import LongTextPolicy, Quantization
from probe_runtime.records import LabelThresholds, Provenance, Speed, TrainingSummary, Verification

from .card_multilabel import multilabel_metrics

__all__ = ["CARD_MARKER", "PICTURES", "CardFacts", "facts_from_manifest", "picture_links", "render_card"]

# Optional manifest fields other issues add (thresholds, calibration, display names), shown when present.
_DECISION_FIELDS = ("decision", "temperature", "label_names", "calibration")
# The pictures `probe report` draws, by the card's name for them: their file names beside the card.
PICTURES = {
    "confusion_matrix": "confusion_matrix.png",
    "layers": "layers.png",
    "reliability": "reliability.png",
    "bench": "bench.png",
}


@dataclass(frozen=True)
class CardFacts:
    """Everything the card states, from an artifact (`facts_from_manifest`) or a model directory."""

    name: str
    labels: list[Any]
    base_encoder: str
    method: str
    pooling: str
    layer: int
    max_length: int
    training: TrainingSummary
    provenance: Provenance | None = None
    quantization: str | None = None  # None: not exported yet
    verification: Verification | None = None
    long_text: str = LongTextPolicy.TRUNCATE.value
    window_stride: int = 0
    window_aggregate: str = "auto"
    speed: Speed | None = None
    settings: Mapping[str, Any] = field(default_factory=dict)
    decisions: Mapping[str, Any] = field(default_factory=dict)  # threshold, temperature, label names...
    thresholds: LabelThresholds | None = None  # multi-label: each label's threshold


def facts_from_manifest(manifest: Manifest, name: str) -> CardFacts:
    """The card's facts as an artifact stores them."""
    decisions = {k: getattr(manifest, k) for k in _DECISION_FIELDS if getattr(manifest, k, None) is not None}
    return CardFacts(
        name=name,
        labels=list(manifest.labels),
        base_encoder=manifest.base_encoder,
        method=str(manifest.method),
        pooling=str(manifest.pooling),
        layer=manifest.layer,
        max_length=manifest.max_length,
        training=manifest.training,
        provenance=manifest.provenance,
        quantization=str(manifest.quantization),
        verification=manifest.verification,
        long_text=str(manifest.long_text),
        window_stride=manifest.window_stride,
        window_aggregate=str(manifest.window_aggregate),
        speed=manifest.speed,
        decisions=decisions,
        thresholds=manifest.thresholds,
    )


def picture_links(facts: CardFacts, sweep: bool = False) -> dict[str, str]:
    """The pictures `probe report` draws for these facts (``sweep``: a sweep's JSON is at hand), by file name."""
    from .plots import reliability_points

    wanted = {
        "confusion_matrix": bool(facts.training.confusion_matrix),
        "layers": sweep,
        "reliability": reliability_points(facts.decisions.get("calibration")) is not None,
    }
    return {key: PICTURES[key] for key, present in wanted.items() if present}


# --- the YAML header --------------------------------------------------------------------------------


def _datasets(t: TrainingSummary) -> list[str]:
    data = t.data or {}
    return [str(d["source"]) for d in (data.get("train"), data.get("test")) if isinstance(d, dict) and "source" in d]


def _encoder_name(facts: CardFacts) -> str:
    """The hub id when known, else the name provenance recorded (never a path), else what the manifest says."""
    p = facts.provenance
    if p is not None:
        return p.hub_id or p.name
    return facts.base_encoder


def _test_name(t: TrainingSummary) -> str:
    test = (t.data or {}).get("test")
    return str(test["source"]) if isinstance(test, dict) and "source" in test else (t.test_source or "test split")


def header(facts: CardFacts) -> dict[str, Any]:
    """The Hugging Face metadata: what the hub (and `yaml.safe_load`) reads from the card's header."""
    p, t = facts.provenance, facts.training
    meta: dict[str, Any] = {
        "base_model": _encoder_name(facts),
        "pipeline_tag": "text-classification",
        "library_name": "onnx" if facts.quantization else "transformers",
        "tags": ["probe", "text-classification", *(["onnx"] if facts.quantization else [])],
    }
    if p and p.license:
        meta["license"] = p.license
    datasets = _datasets(t)
    if datasets:
        meta["datasets"] = datasets
    meta["labels"] = [str(label) for label in facts.labels]
    if t.accuracy is not None:
        metrics = [{"type": "accuracy", "value": round(t.accuracy, 4)}]
        if t.macro_f1 is not None:
            metrics.append({"type": "f1", "name": "macro-F1", "value": round(t.macro_f1, 4)})
        meta["metrics"] = [m["type"] for m in metrics]
        test = _test_name(t)
        result = {
            "task": {"type": "text-classification"},
            "dataset": {"name": test, "type": test, "split": "test"},
            "metrics": metrics,
        }
        meta["model-index"] = [{"name": facts.name, "results": [result]}]
    return meta


# --- the body, section by section ------------------------------------------------------------------


def _table(head: Sequence[str], rows: Sequence[Sequence[Any]]) -> list[str]:
    def cell(value: Any) -> str:
        text = f"{value:.4f}" if isinstance(value, float) else str(value)
        return text.replace("|", "\\|").replace("\n", " ")

    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    return lines + ["| " + " | ".join(cell(v) for v in row) + " |" for row in rows]


def _purpose(facts: CardFacts) -> list[str]:
    labels = ", ".join(f"`{label}`" for label in facts.labels)
    train = (facts.training.data or {}).get("train") or {}
    source = train.get("source") or facts.training.train_source or "its training data"
    return [
        "## Purpose and scope",
        "",
        f"Classifies a text into one of {len(facts.labels)} labels: {labels}. It learned from {source} only: "
        "use it on texts like those (same kind of source, language and length). It has not been tested on "
        "anything else, and its scores are not a measure of truth outside that scope. It reads the first "
        f"{facts.max_length} tokens of a text unless the long-text policy below says otherwise.",
    ]


def _data(facts: CardFacts) -> list[str]:
    data = facts.training.data or {}
    rows = []
    for split in ("train", "test"):
        d = data.get(split)
        if isinstance(d, dict):
            counts = ", ".join(f"{k}: {v}" for k, v in (d.get("label_counts") or {}).items())
            rows.append([split, d.get("source", "?"), d.get("rows", "?"), counts, *_hashes(d)])
    if not rows:
        return []
    head = ["split", "file", "rows", "rows per label", "rows SHA-256", "file SHA-256"]
    note = "Rows SHA-256: of the rows as JSON lines `[text, label]` (the same from a file or a Python list)."
    return ["## Training data", "", *_table(head, rows), "", note]


def _hashes(d: Mapping[str, Any]) -> list[str]:
    return [f"`{d[k][:16]}…`" if isinstance(d.get(k), str) else "—" for k in ("rows_sha256", "file_sha256")]


def _encoder(facts: CardFacts) -> list[str]:
    p = facts.provenance
    lines = ["## Base encoder", "", f"`{_encoder_name(facts)}`"]
    if p is None:
        return [*lines, "", "(No provenance recorded: trained by an earlier probe.)"]
    items = [
        ("hub id", p.hub_id),
        ("revision", p.revision),
        ("pip package", f"{p.package} {p.package_version or ''}".strip() if p.package else None),
        ("licence", p.license),
    ]
    lines += ["", *(f"- {what}: `{value}`" for what, value in items if value)]
    for file, digest in (p.weights_sha256 or {}).items():
        lines.append(f"- weights `{file}` SHA-256: `{digest}`")
    if facts.method == "finetune":
        lines.append("- fine-tuned: the artifact's encoder weights differ from these (trained end to end).")
    return lines


def _method(facts: CardFacts) -> list[str]:
    t = facts.training
    rows: list[list[Any]] = [
        ["method", facts.method],
        ["pooling", facts.pooling],
        ["layer", "last" if facts.layer == -1 else facts.layer],
        ["max length (tokens)", facts.max_length],
    ]
    named = ("C", "seed", "epochs", "learning_rate", "batch_size", "best_epoch", "steps", "n_train", "train_seconds")
    rows += [[k.replace("_", " "), f"{getattr(t, k):.4g}"] for k in named if getattr(t, k) is not None]
    if t.sample_weight:  # `probe train --weight-column`: what the loss weighed
        w = t.sample_weight
        rows.append(["training weights", f"{w['rows']} rows, {w['zero']} at 0, total {w['sum']:g} (max {w['max']:g})"])
    if t.normalize is not None:
        how, raw, l2 = "", t.cv_accuracy_raw, t.cv_accuracy_l2
        if t.normalize_chosen_by == "cross-validation" and raw is not None and l2 is not None:
            how = f" (chosen by CV accuracy: raw {100 * raw:.2f} %, L2 {100 * l2:.2f} %)"
        rows.append(["L2-normalised pooled vector", f"{'yes' if t.normalize else 'no'}{how}"])
    what = (
        "A logistic regression on the frozen encoder's pooled vectors, its regularisation C chosen by "
        "stratified cross-validation."
        if facts.method == "probe"
        else "Encoder and linear head trained end to end (AdamW, linear warm-up and decay, early stopping on a "
        "validation split of the training data)."
    )
    return ["## Method and settings", "", what, "", *_table(["setting", "value"], rows)]


def _metrics(facts: CardFacts, pictures: Mapping[str, str]) -> list[str]:
    t = facts.training
    if facts.thresholds is not None:
        return multilabel_metrics(t, facts.thresholds, _test_name(t), _table)
    if t.accuracy is None:
        return []
    lines = [
        "## Test metrics",
        "",
        f"On {t.n} held-out texts ({_test_name(t)}): accuracy **{t.accuracy:.4f}**, "
        f"macro-F1 **{t.macro_f1 or 0:.4f}** (majority class {t.majority_baseline or 0:.4f}).",
    ]
    if t.per_class:
        rows = [
            [label, c.get("precision", 0.0), c.get("recall", 0.0), c.get("f1", 0.0), int(c.get("support", 0))]
            for label, c in t.per_class.items()
        ]
        lines += ["", *_table(["class", "precision", "recall", "F1", "support"], rows)]
    if t.confusion_matrix:
        names = [str(label) for label in facts.labels]
        rows = [[f"**{names[i]}**", *row] for i, row in enumerate(t.confusion_matrix)]
        lines += ["", "Confusion matrix (rows: true label, columns: predicted):", ""]
        lines += _table(["true \\ predicted", *names], rows)
    for key, title in (("confusion_matrix", "confusion matrix"), ("layers", "accuracy by layer")):
        if key in pictures:
            lines += ["", f"![{title}]({pictures[key]})"]
    return lines


def _precision(facts: CardFacts) -> list[str]:
    v = facts.verification
    if facts.quantization is None or v is None:
        return []
    lines = ["## Exported precision", "", f"Shipped: **{facts.quantization}**."]
    chosen = next((c for c in (v.precision.candidates if v.precision else ()) if c.name == facts.quantization), None)
    if facts.quantization == Quantization.NONE:
        lines.append("fp32: the same graph PyTorch computes, no quantization cost.")
    if chosen is not None and chosen.name != Quantization.NONE:
        a = chosen.agreement
        lines.append(
            f"Against fp32 on {a.texts} texts: {a.flip_rate:.2%} of labels changed "
            f"(95 % upper bound {a.flip_rate_upper or a.flip_rate:.2%}), max |Δp| {a.max_abs_diff:.4f}."
        )
        if chosen.paired is not None:
            q = chosen.paired
            lines.append(
                f"Accuracy {q.accuracy:.4f} vs fp32 {q.fp32_accuracy:.4f} ({q.delta_points:+.2f} points, "
                f"95 % interval {q.delta_low:+.2f}..{q.delta_high:+.2f}, McNemar p {q.p_worse:.3g})."
            )
    if v.fp32 is not None and v.fp32.max_abs_diff is not None:
        lines.append(f"The fp32 graph matches PyTorch within {v.fp32.max_abs_diff:.1e} in probability.")
    return lines


def _decisions(facts: CardFacts, pictures: Mapping[str, str]) -> list[str]:
    if not facts.decisions and "reliability" not in pictures:
        return []
    lines = ["## Operating point and calibration", ""]
    for key, value in facts.decisions.items():
        plain = value.to_json_dict() if hasattr(value, "to_json_dict") else value
        shown = ", ".join(f"{k}: {v}" for k, v in plain.items()) if isinstance(plain, dict) else plain
        lines.append(f"- {key.replace('_', ' ')}: {shown}")
    if "reliability" in pictures:
        lines += ["", f"![reliability diagram]({pictures['reliability']})"]
    return lines


def _long_text(facts: CardFacts) -> list[str]:
    if facts.long_text == LongTextPolicy.WINDOW:
        text = (
            f"Texts longer than {facts.max_length} tokens are read in overlapping windows ({facts.window_stride} "
            f"tokens shared), combined by `{facts.window_aggregate}`."
        )
    else:
        text = f"Texts longer than {facts.max_length} tokens are truncated (the rest is not read)."
    return ["## Long texts", "", text + " `--long-text` / `long_text=` changes it at run time."]


def _speed(facts: CardFacts, pictures: Mapping[str, str]) -> list[str]:
    s = facts.speed
    if s is None:
        return []
    lines = [
        "## Speed",
        "",
        f"Measured at export on {s.cpu}, {s.threads} threads, onnxruntime {s.onnxruntime or '?'}, "
        f"{s.texts} short built-in texts: latency p50 **{s.latency_ms_p50:.1f} ms** per text "
        f"(p95 {s.latency_ms_p95 or s.latency_ms_p50:.1f} ms), **{s.texts_per_s:,.0f} texts/s** in batches of "
        f"{s.batch_size}. A short measurement on one machine: `probe-runtime bench` measures yours.",
    ]
    if "bench" in pictures:
        lines += ["", f"![latency and throughput]({pictures['bench']})"]
    return lines


def _usage(facts: CardFacts) -> list[str]:
    model = f"{facts.name}.onnx" if facts.quantization else f"{facts.name}.onnx  # after: probe export {facts.name}"
    return [
        "## How to run",
        "",
        "```bash",
        "pip install probe-runtime",
        f"probe-runtime classify {model} texts.txt --out predictions.jsonl",
        "```",
        "",
        "```python",
        "from probe_runtime import Classifier",
        "",
        f'clf = Classifier.load("{facts.name}.onnx")',
        'clf("some text")  # Prediction(label=..., score=..., scores={...})',
        "```",
    ]


def render_card(facts: CardFacts, pictures: Mapping[str, str] | None = None) -> str:
    """The card as Markdown. ``pictures``: ``{"confusion_matrix" | "layers" | "reliability" | "bench": link}``."""
    pictures = pictures or {}
    meta = yaml.safe_dump(header(facts), sort_keys=False, allow_unicode=True, width=1000)
    sections = [
        _purpose(facts),
        _data(facts),
        _encoder(facts),
        _method(facts),
        _metrics(facts, pictures),
        _precision(facts),
        _decisions(facts, pictures),
        _long_text(facts),
        _speed(facts, pictures),
        _usage(facts),
    ]
    body = "\n\n".join("\n".join(s) for s in sections if s)
    return f"---\n{meta}---\n{CARD_MARKER}\n\n# {facts.name}\n\n{body}\n"
