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


def cmd_info(args: argparse.Namespace) -> int:
    clf = Classifier.load(args.model)
    m = clf.manifest
    size = Path(args.model).stat().st_size
    if args.json:
        info = {"path": args.model, "size_bytes": size, **{k: getattr(m, k) for k in m.__dataclass_fields__}}
        print(json.dumps(info, indent=2, ensure_ascii=False))
        return 0
    print(f"{args.model}  ({size / 1e6:.1f} MB, {m.quantization}, {m.created_by})")
    print(f"  labels        {m.labels}")
    print(f"  base encoder  {m.base_encoder}")
    print(f"  method        {m.method}, pooling {m.pooling}, layer {m.layer}, max length {m.max_length}")
    print(f"  long texts    {clf.long_text.describe()}")
    print(f"  inputs        {', '.join(m.input_names)}")
    v = m.verification
    if {"accuracy", "flip_rate"} <= v.get("int8", {}).keys() and "accuracy" in v.get("fp32", {}):
        q, gate = v["int8"], v.get("int8_gate", {})
        print(
            f"  int8 quality  accuracy {q['accuracy']:.4f} vs fp32 {v['fp32']['accuracy']:.4f} "
            f"({100 * (q['accuracy'] - v['fp32']['accuracy']):+.2f} pts), F1 {q['macro_f1']:.4f} vs "
            f"{v['fp32']['macro_f1']:.4f}, {q['flip_rate']:.2%} flipped, max |Δp| {q['max_abs_diff']:.3f}, "
            f"mean |Δp| {q['mean_abs_diff']:.4f}; gate {'passed' if gate.get('passed') else 'failed'} "
            f"(limit {gate.get('max_loss_points')} pts) on {v['texts']} texts"
        )
    if {"accuracy", "flip_rate"} <= v.get("int8_one_by_one", {}).keys() and "accuracy" in v.get("fp32", {}):
        q = v["int8_one_by_one"]
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
