"""`probe export` and `probe report`: export's subcommands, their options and what they print."""

from __future__ import annotations

import argparse
import json
import os
from pathlib import Path

from probe_runtime.choices import LongTextPolicy, WindowAggregate
from probe_runtime.errors import UsageError
from probe_runtime.guard import output_lock
from probe_runtime.info import verification_lines
from probe_train.cli_options import at_least, flags_shown

from . import AUTO, LONG_TEXT_CHOICES, QUANTIZE_CHOICES, WINDOW_AGGREGATE_CHOICES
from .options import ExportOptions, ExportRequest

__all__ = ["add_commands", "export_request", "non_negative"]


def non_negative(text: str) -> float:
    """An argparse type: a finite number >= 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"{text!r} is not a number") from None
    if not 0 <= value < float("inf"):
        raise argparse.ArgumentTypeError(f"must be a number of 0 or more, not {text}")
    return value


def cmd_export(args: argparse.Namespace) -> int:
    """`export_model` checks --out (once), locks it and writes it; this prints what was written."""
    with flags_shown():
        return _export(export_request(args))


def export_request(args: argparse.Namespace) -> ExportRequest:
    """The one place `probe export` reads its command line: every option checked, in one record."""
    options = ExportOptions(
        quantize=args.quantize,
        eval_file=args.eval,
        text_column=args.text_column,
        label_column=args.label_column,
        long_text=args.long_text,
        window_stride=args.window_stride,
        window_aggregate=args.window_aggregate,
        max_flip_rate=args.max_flip_rate,
        significance=args.significance,
    )
    return ExportRequest(Path(args.model_dir), Path(args.out), options, overwrite=args.overwrite, json=args.json)


def _export(request: ExportRequest) -> int:
    from .pipeline import export_model

    result = export_model(request.model_dir, request.out, request.options, overwrite=request.overwrite)
    v = result.manifest.verification
    size = os.path.getsize(result.path) / 1e6
    print(f"wrote {result.path} ({size:.1f} MB, {result.manifest.quantization}) in {result.seconds:.0f} s")
    print("\n".join(verification_lines(v)))
    m = result.manifest
    if m.long_text is LongTextPolicy.WINDOW:
        shared = f"{m.window_stride} shared"
        print(f"long texts: windows of {m.max_length} tokens ({shared}), aggregated by {m.window_aggregate}")
    else:
        print(f"long texts: truncated at {m.max_length} tokens")
    shown = Path(result.path).with_name(f"{Path(result.path).stem}.card")
    print(f"model card: stored in the artifact (`probe report {result.path}` writes it with its pictures to {shown}/)")
    if request.json:
        print(json.dumps(v.to_json_dict(), indent=2))
    return 0


def cmd_report(args: argparse.Namespace) -> int:
    with flags_shown():
        return _report(args)


def _report(args: argparse.Namespace) -> int:
    from .report import default_out, load_facts, read_sweep, write_report

    source = Path(args.source)
    if not source.exists():
        raise UsageError(f"{source} not found: give a model directory (`probe train --out`) or an artifact (.onnx)")
    facts, sweep = load_facts(source)
    if args.sweep:
        sweep = read_sweep(args.sweep)
    out = Path(args.out) if args.out else default_out(source)
    inputs = {"source": None if source.is_dir() and out.parent == source else source, "--sweep file": args.sweep}
    with output_lock(out):
        card = write_report(
            facts, out, sweep=sweep, pictures=not args.no_pictures, overwrite=args.overwrite, inputs=inputs
        )
    print(f"wrote {card}" + ("" if args.no_pictures else f" and its pictures in {out}/"))
    return 0


def _add_report_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "report",
        help="write the model card and its pictures from a model directory or artifact",
        description="Regenerate the model card (README.md, Hugging Face YAML header) and its PNG pictures "
        "(confusion matrix; per-layer curve when a sweep's JSON is stored; reliability diagram when calibration "
        "was measured) from what a model directory or artifact stores.",
    )
    p.add_argument(
        "source", help="a model directory written by `probe train`, or an artifact written by `probe export`"
    )
    p.add_argument(
        "--out", "-o", help="the report directory (default: NAME.card/ beside an artifact, card/ in a model directory)"
    )
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is a report written by probe (never anything else)",
    )
    p.add_argument("--no-pictures", action="store_true", help="the card only (no matplotlib needed)")
    p.add_argument(
        "--sweep",
        help="a layer sweep's JSON to draw the per-layer curve from (default: sweep.json in the model directory)",
    )
    p.set_defaults(func=cmd_report)


def _add_export_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "export",
        help="export a trained model to one verified .onnx file",
        description="Fuse tokenized input → encoder → pooling → head → probabilities into one ONNX graph, "
        "apply onnxruntime's transformer fusions, quantize to int8, verify against PyTorch on held-out texts, "
        "and write one self-contained file (tokenizer, labels and figures in its metadata).",
    )
    p.add_argument("model_dir", help="directory written by `probe train`")
    p.add_argument("--out", "-o", required=True, help="the .onnx file to write")
    p.add_argument(
        "--overwrite",
        action="store_true",
        help="replace --out if it is a probe artifact from an earlier export (never anything else)",
    )
    p.add_argument(
        "--quantize",
        choices=QUANTIZE_CHOICES,
        default=AUTO,
        help="auto (default): the fastest precision that passes the gate, trying int8-per-token (int8 weights, "
        "activations scaled per token: a text gets the same answer alone or in any batch), then fp32. "
        "Or exactly: int8-per-token; int8 (fastest, activations scaled per batch, so a text's answer can depend "
        "on its batch-mates); none (fp32). An explicit precision that fails the gate writes nothing.",
    )
    p.add_argument(
        "--max-flip-rate",
        type=non_negative,
        default=3.0,
        metavar="PERCENT",
        help="gate: refuse a precision that changes more than this percentage of labels against fp32, measured "
        "on the training sample the model directory keeps plus the labelled texts (default 3)",
    )
    p.add_argument(
        "--significance",
        type=non_negative,
        default=0.05,
        metavar="P",
        help="gate: refuse a precision whose accuracy loss on the labelled texts is significant at this level "
        "(McNemar's exact test on the texts the two graphs disagree on; default 0.05; 0 turns the test off)",
    )
    _add_verification_options(p)
    p.add_argument("--json", action="store_true", help="also print the verification figures as JSON")
    p.set_defaults(func=cmd_export)


def _add_verification_options(p: argparse.ArgumentParser) -> None:
    """What the file is verified on, and the long-text policy it stores."""
    p.add_argument("--eval", help="labelled file to verify on (default: the held-out split saved by train)")
    p.add_argument("--text-column", default="text", help="text column of --eval (default: text)")
    p.add_argument("--label-column", default="label", help="label column of --eval (default: label)")
    p.add_argument(
        "--long-text",
        choices=LONG_TEXT_CHOICES,
        default=LongTextPolicy.TRUNCATE.value,
        help="default policy for texts longer than max length: truncate (default), or classify overlapping "
        "windows and aggregate; stored in the artifact, overridable at run time",
    )
    p.add_argument(
        "--window-stride",
        type=at_least(0),
        default=0,
        help="tokens shared by neighbouring windows (default: max length / 4)",
    )
    p.add_argument(
        "--window-aggregate",
        choices=WINDOW_AGGREGATE_CHOICES,
        default=WindowAggregate.AUTO.value,
        help="max = the most positive window (detection), mean = average of windows; auto (default) = max "
        "for two labels where one reads as 'nothing found' (0, ham, benign, not_…), else mean",
    )


def add_commands(sub: argparse._SubParsersAction) -> None:
    _add_export_command(sub)
    _add_report_command(sub)
