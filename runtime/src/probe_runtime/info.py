"""What an artifact carries, as lines for humans or as JSON data: the library behind `probe-runtime info`
and behind the figures `probe export` prints. Nothing here prints; the CLI does.
"""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path
from typing import Any

from .canary import CanaryCheck, check_canaries
from .choices import EncoderKind
from .classifier import Classifier
from .cpu import cpu_name
from .records import EncoderRecord, Figures, OperatingFigures, PrecisionRecord, Verification

__all__ = [
    "as_json",
    "decision_lines",
    "describe",
    "machine_lines",
    "precision_lines",
    "self_check",
    "verification_lines",
]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    return str(value)


def precision_lines(p: PrecisionRecord | None) -> list[str]:
    """How the shipped precision was chosen: each candidate's figures against fp32 and the gate's verdict."""
    if p is None:
        return []
    gate = p.gate
    lines = [
        f"precision: asked {p.requested}, shipped {p.chosen} (gate: at most {gate.max_flip_rate:.2%} labels "
        f"changed vs fp32, no accuracy loss significant at {gate.significance})"
    ]
    for c in p.candidates:
        a = c.agreement
        text = f"  {c.name:<15}{a.flip_rate:.2%} of {a.texts} texts flipped, max |Δp| {a.max_abs_diff:.3f}"
        if c.paired is not None:
            q = c.paired
            text += (
                f"; accuracy {q.accuracy:.4f} vs {q.fp32_accuracy:.4f} ({q.delta_points:+.2f} pts, "
                f"95 % CI {q.delta_low:+.2f}..{q.delta_high:+.2f}; McNemar p {q.p_worse:.3g})"
            )
        independent = "same answer alone or batched" if c.batch_independent else "answer depends on the batch"
        text += f"; {independent}: {'passed' if c.passed else 'refused: ' + '; '.join(c.reasons)}"
        lines.append(text)
    return lines


def _operating(f: OperatingFigures | None) -> str:
    if f is None or None in (f.fpr, f.recall, f.precision):
        return ""
    return f"FPR {f.fpr:.4f}, recall {f.recall:.4f}, precision {f.precision:.4f}"


def decision_lines(classifier: Classifier) -> list[str]:
    """The decision rule in force and what it achieved (validation when chosen, test at export), and the temperature."""
    m, d = classifier.manifest, classifier.manifest.decision
    line = f"decision      {classifier.decider.describe()}"
    if d.target is not None:
        line += f" (target {d.rule} {d.target:g}"
        line += f"; on {d.chosen_on}: {_operating(d.validation)})" if d.validation else ")"
    lines = [line]
    if m.thresholds is not None and (m.thresholds.target or m.thresholds.chosen_on):
        chosen = f"for {m.thresholds.target}" if m.thresholds.target else ""
        chosen += f" on {m.thresholds.chosen_on}" if m.thresholds.chosen_on else ""
        lines.append(f"  thresholds  chosen {chosen.strip()}")
    tested = _operating(m.verification.decision)
    if tested:
        lines.append(f"  at export   {tested} on the test texts; argmax: {_operating(m.verification.decision_argmax)}")
    if m.temperature != 1.0:
        lines.append(f"temperature   {m.temperature:.4g} (folded into the graph: probabilities are calibrated)")
    return lines


def _quality(figures: Figures) -> str:
    if figures.accuracy is None or figures.macro_f1 is None:
        return ""
    return f"accuracy {figures.accuracy:.4f}  macro-F1 {figures.macro_f1:.4f}   "


def verification_lines(v: Verification) -> list[str]:
    """The export's proof, one line per graph, then how the precision was chosen (what `probe export` prints)."""
    lines = [f"verification on {v.texts} labelled texts ({v.source}):"]
    if v.torch is not None:
        lines.append(f"  pytorch  {_quality(v.torch)}")
    f = v.fp32
    if f is not None and f.agreement is not None and f.max_abs_diff is not None:
        lines.append(f"  fp32     {_quality(f)}vs pytorch: agreement {f.agreement:.4f}, max |Δp| {f.max_abs_diff:.1e}")
    q = v.int8
    if q is not None and None not in (q.flip_rate, q.max_abs_diff, q.mean_abs_diff):
        name = (v.precision.chosen if v.precision else None) or "int8"
        lines.append(
            f"  {name:<8} {_quality(q)}vs fp32: {q.flip_rate:.2%} flipped, max |Δp| {q.max_abs_diff:.3f}, "
            f"mean |Δp| {q.mean_abs_diff:.4f}"
        )
    if v.decision is not None:
        lines.append(f"  at the stored threshold {_operating(v.decision)} (argmax: {_operating(v.decision_argmax)})")
    return lines + precision_lines(v.precision)


def _int8_quality(v: Verification) -> str | None:
    """int8 against fp32 in one line, when the file holds every figure it needs."""
    q, fp32 = v.int8, v.fp32
    if q is None or fp32 is None or v.texts is None or fp32.accuracy is None or fp32.macro_f1 is None:
        return None
    if q.accuracy is None or q.macro_f1 is None or q.flip_rate is None:
        return None
    if q.max_abs_diff is None or q.mean_abs_diff is None:
        return None
    return (
        f"int8 quality  accuracy {q.accuracy:.4f} vs fp32 {fp32.accuracy:.4f} "
        f"({100 * (q.accuracy - fp32.accuracy):+.2f} pts), F1 {q.macro_f1:.4f} vs "
        f"{fp32.macro_f1:.4f}, {q.flip_rate:.2%} flipped, max |Δp| {q.max_abs_diff:.3f}, "
        f"mean |Δp| {q.mean_abs_diff:.4f} on {v.texts} labelled texts"
    )


def _sections(classifier: Classifier) -> list[str]:
    """The training summary and the verification figures, key by key (precision has its own lines)."""
    m = classifier.manifest
    lines = []
    for section, data in (("training", m.training.to_json_dict()), ("verification", m.verification.to_json_dict())):
        if data:
            lines.append(f"  {section}:")
            for key, value in data.items():
                if not (
                    section == "verification"
                    and key in ("precision", "decision", "decision_argmax", "int8_worst_pair_sum")
                ):  # shown above, line by line
                    lines.append(f"    {key:<20} {_value(value)}")
    return lines


def self_check(classifier: Classifier) -> CanaryCheck | None:
    """The file's canaries run on this machine (None for a file exported without them)."""
    canaries = classifier.manifest.canaries
    return None if canaries is None else check_canaries(canaries, classifier.predict_proba)


def machine_lines(classifier: Classifier, check: CanaryCheck | None) -> list[str]:
    """Where the file was verified, where it runs, and whether this machine gives the verified answers."""
    if check is None:
        return [f"running on    {cpu_name()}", "self-check    none: exported without canary texts (re-export to add)"]
    return [
        f"exported on   {check.exported_on}",
        f"running on    {check.running_on}",
        f"self-check    {check.describe()}",
    ]


def _encoder(e: EncoderRecord) -> str:
    """The encoder record in one phrase: ``static table 30,522 x 256, distilled from minilm``."""
    size = f" {e.vocab:,} x {e.dims}" if e.vocab is not None and e.dims is not None else ""
    size = size or (f" {e.dims} wide" if e.dims is not None else "")
    what = "static table" if e.kind is EncoderKind.STATIC else str(e.kind)
    return what + size + (f", distilled from {e.distilled_from}" if e.distilled_from else "")


def describe(path: str, classifier: Classifier, check: CanaryCheck | None = None) -> list[str]:
    """What the artifact at ``path`` (loaded as ``classifier``) carries, as the lines `probe-runtime info` prints;
    ``check``: its canaries run here (`self_check`)."""
    m = classifier.manifest
    size = Path(path).stat().st_size
    clf_multi = classifier.multi_label
    lines = [
        f"{path}  ({size / 1e6:.1f} MB, {m.quantization}, {m.created_by})",
        f"  labels        {m.labels}" + (f" shown as {m.label_names}" if m.label_names else ""),
        f"  base encoder  {m.base_encoder}",
        f"  task          {m.task}" + (" (a sigmoid per label, each decided by its threshold)" if clf_multi else ""),
        f"  method        {m.method}, pooling {m.pooling}, layer {m.layer}, max length {m.max_length}",
        f"  long texts    {classifier.long_text.describe()}",
        f"  inputs        {', '.join(m.input_names)}",
    ]
    if m.encoder is not None:
        lines.append(f"  encoder       {_encoder(m.encoder)}")
    if m.encoder_layers is not None:
        lines.append(f"  encoder       {m.encoder_layers} block(s) in the graph (the head reads the last of them)")
    # Verified at load: a file that does not match them never gets this far.
    for title, part in zip(("sha256", "", ""), ("graph", "tokenizer", "manifest")):
        lines.append(f"  {title:<14}{part:<10}{classifier.sha256[part]}")
    lines.extend(f"  {line}" for line in decision_lines(classifier))
    quality = _int8_quality(m.verification)
    if quality:
        lines.append(f"  {quality}")
    if m.quantization.batch_dependent:
        lines.append(
            "  batching      this file's answer for a text can depend on the other texts in its call (int8 per batch)"
        )
    lines.extend(f"  {line}" for line in precision_lines(m.verification.precision))
    bound = m.verification.int8_worst_pair_sum
    if bound is not None:
        same = "the same integers on every x86 CPU" if bound <= 32767 else "AVX2 CPUs can saturate: answers may differ"
        lines.append(f"  int8 integers worst product pair {bound:,} (int16 limit 32,767): {same}")
    lines.extend(f"  {line}" for line in machine_lines(classifier, check))
    return lines + _sections(classifier)


def as_json(path: str, classifier: Classifier, check: CanaryCheck | None = None) -> dict[str, Any]:
    """What the artifact at ``path`` carries, as JSON data: path, size, hashes, the self-check run here, then every
    manifest field."""
    return {
        "path": path,
        "size_bytes": Path(path).stat().st_size,
        "sha256": classifier.sha256,
        "self_check": None if check is None else {**asdict(check), "passed": check.passed},
        **classifier.manifest.to_json_dict(),
    }
