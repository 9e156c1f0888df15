"""`probe-runtime info`: what an artifact carries, for humans or as JSON."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

from .classifier import Classifier

__all__ = ["add_command", "cmd_info"]


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
        gate = v.get("int8_gate", {})
        print(
            f"  int8 quality  accuracy {q['accuracy']:.4f} vs fp32 {v['fp32']['accuracy']:.4f} "
            f"({100 * (q['accuracy'] - v['fp32']['accuracy']):+.2f} pts), F1 {q['macro_f1']:.4f} vs "
            f"{v['fp32']['macro_f1']:.4f}, {q['flip_rate']:.2%} flipped, max |Δp| {q['max_abs_diff']:.3f}, "
            f"mean |Δp| {q['mean_abs_diff']:.4f}; gate {'passed' if gate.get('passed') else 'failed'} "
            f"(limit {gate.get('max_loss_points')} pts) on {v['texts']} texts"
        )
    q = _figures(v, "int8_one_by_one", {"accuracy", "flip_rate", "max_abs_diff"})
    if q and fp32:
        print(
            f"  one by one    accuracy {q['accuracy']:.4f} ({100 * (q['accuracy'] - v['fp32']['accuracy']):+.2f} pts), "
            f"{q['flip_rate']:.2%} flipped, max |Δp| {q['max_abs_diff']:.3f} (int8, one text per call)"
        )
    for section in ("training", "verification"):
        data = getattr(m, section)
        if data:
            print(f"  {section}:")
            for key, value in data.items():
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
