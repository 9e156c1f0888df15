"""`probe-runtime info`: what an artifact carries, for humans or as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .artifact import BATCH_DEPENDENT_QUANTIZATIONS
from .classifier import Classifier

__all__ = ["add_command", "cmd_info", "precision_lines"]


def _value(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:.4g}"
    if isinstance(value, dict):
        return ", ".join(f"{k} {_value(v)}" for k, v in value.items())
    return str(value)


_QUALITY = {"accuracy", "macro_f1", "flip_rate", "max_abs_diff", "mean_abs_diff"}


def _figures(verification: dict[str, Any], section: str, keys: set[str]) -> dict[str, Any] | None:
    """``verification[section]`` when it holds every key this summary formats (the loader checked their types)."""
    figures = verification.get(section)
    return figures if isinstance(figures, dict) and keys <= figures.keys() else None


def precision_lines(p: dict[str, Any]) -> list[str]:
    """How the shipped precision was chosen: each candidate's figures against fp32 and the gate's verdict."""
    if not p:
        return []
    gate = p["gate"]
    lines = [
        f"precision: asked {p['requested']}, shipped {p['chosen']} (gate: at most {gate['max_flip_rate']:.2%} labels "
        f"changed vs fp32, no accuracy loss significant at {gate['significance']})"
    ]
    for c in p["candidates"]:
        a = c["agreement"]
        text = f"  {c['name']:<15}{a['flip_rate']:.2%} of {a['texts']} texts flipped, max |Δp| {a['max_abs_diff']:.3f}"
        if "paired" in c:
            q = c["paired"]
            text += (
                f"; accuracy {q['accuracy']:.4f} vs {q['fp32_accuracy']:.4f} ({q['delta_points']:+.2f} pts, "
                f"95 % CI {q['delta_low']:+.2f}..{q['delta_high']:+.2f}; McNemar p {q['p_worse']:.3g})"
            )
        independent = "same answer alone or batched" if c["batch_independent"] else "answer depends on the batch"
        text += f"; {independent}: {'passed' if c['passed'] else 'refused: ' + '; '.join(c['reasons'])}"
        lines.append(text)
    return lines


def cmd_info(args: argparse.Namespace) -> int:
    clf = Classifier.load(args.model)
    m = clf.manifest
    size = Path(args.model).stat().st_size
    if args.json:
        info = {
            "path": args.model,
            "size_bytes": size,
            "sha256": clf.sha256,
            **{k: getattr(m, k) for k in m.__dataclass_fields__},
        }
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.model}  ({size / 1e6:.1f} MB, {m.quantization}, {m.created_by})")
    print(f"  labels        {m.labels}")
    print(f"  base encoder  {m.base_encoder}")
    print(f"  method        {m.method}, pooling {m.pooling}, layer {m.layer}, max length {m.max_length}")
    print(f"  long texts    {clf.long_text.describe()}")
    print(f"  inputs        {', '.join(m.input_names)}")
    # Verified at load: a file that does not match them never gets this far.
    for title, part in zip(("sha256", "", ""), ("graph", "tokenizer", "manifest")):
        print(f"  {title:<14}{part:<10}{clf.sha256[part]}")
    v = m.verification
    fp32 = _figures(v, "fp32", {"accuracy", "macro_f1"})
    q = _figures(v, "int8", _QUALITY)
    if q and fp32 and "texts" in v:
        print(
            f"  int8 quality  accuracy {q['accuracy']:.4f} vs fp32 {v['fp32']['accuracy']:.4f} "
            f"({100 * (q['accuracy'] - v['fp32']['accuracy']):+.2f} pts), F1 {q['macro_f1']:.4f} vs "
            f"{v['fp32']['macro_f1']:.4f}, {q['flip_rate']:.2%} flipped, max |Δp| {q['max_abs_diff']:.3f}, "
            f"mean |Δp| {q['mean_abs_diff']:.4f} on {v['texts']} labelled texts"
        )
    if m.quantization in BATCH_DEPENDENT_QUANTIZATIONS:
        print(
            "  batching      this file's answer for a text can depend on the other texts in its call (int8 per batch)"
        )
    for line in precision_lines(v.get("precision", {})):
        print(f"  {line}")
    for section in ("training", "verification"):
        data = getattr(m, section)
        if data:
            print(f"  {section}:")
            for key, value in data.items():
                if not (section == "verification" and key == "precision"):  # shown above, line by line
                    print(f"    {key:<20} {_value(value)}")
    return 0


def add_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "info",
        help="show what an artifact carries",
        description="Show labels, encoder, "
        "settings, training metrics and export verification figures stored in an artifact.",
    )
    p.add_argument("model", help="the .onnx artifact")
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p.set_defaults(func=cmd_info)
