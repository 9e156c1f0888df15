"""What `probe export` with no flags does on every encoder architecture of the test matrix (issue 19).

    .venv/bin/python -m benchmarks.architecture_matrix [--archs bert roberta ...]
    # ~3 min on 2 shared cores

The encoders are the tiny random ones tests/export/test_architectures.py covers, built by the same code
(tests/architectures.py: 2 layers, hidden 32, seeded, each with its own tokenizer family). For each one:
`probe train` (probe method) on synthetic sentiment sentences (tests/conftest.py's generator, more of
them: 2,000 training and 500 test rows by default), `probe export` with no flags (`--quantize auto`),
and `probe export --quantize none` for the fp32 baseline. From the artifact's own
`verification.precision` it reports the precision `auto` chose, its flips against fp32 (on the kept
training sample plus the test texts), the accuracy change on the test texts with its 95 % interval and
McNemar's one-sided p, the fused operators, the file size, and the chosen file's speed relative to the
fp32 file (texts/s over the test texts, 2 threads, interleaved repetitions, shared cores: noisy).

Random tiny encoders say whether the export path works on an architecture and what it fuses, not how
much a real checkpoint of that architecture loses to int8 (docs/results.md has real models).

Writes benchmarks/results/architecture_matrix.{json,md}, naming the CPU.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import statistics
from pathlib import Path

import onnxruntime as ort
from probe_export.cli import main as probe
from probe_runtime import Classifier

from benchmarks.common.host import cpu_name
from benchmarks.common.paths import REPO as ROOT
from benchmarks.common.paths import WORK as _WORK
from benchmarks.common.record import write_results
from benchmarks.quality_report import throughput

# The test suite's encoder builders and data generator (run from the repository root: ``tests`` is importable).
from tests.architectures import ARCHITECTURES, build_encoder
from tests.conftest import synthetic_rows, write_csv

WORK = _WORK / "architectures"
RESULTS = ROOT / "benchmarks" / "results"
SHORT = {"input_ids": "ids", "attention_mask": "mask", "token_type_ids": "types"}


def _quiet(args: list[str]) -> None:
    """Run the probe CLI with its progress output captured; fail loudly with that output if it fails."""
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = probe(args)
    if code != 0:
        raise RuntimeError(f"probe {' '.join(args)} exited {code}:\n{out.getvalue()}{err.getvalue()}")


def _speed(paths: dict[str, Path], texts: list[str], reps: int) -> dict[str, float]:
    """Texts per second of each file, batched like the runtime, repetitions interleaved across files."""
    models = {name: Classifier.load(path, threads=2) for name, path in paths.items()}
    for model in models.values():
        model.predict_proba(texts[:64])  # warm-up
    return {name: statistics.median(values) for name, values in throughput(models, texts, reps).items()}


def measure(name: str, train: Path, test: Path, test_texts: list[str], reps: int) -> dict:
    root = WORK / name
    encoder = build_encoder(name, root / "encoder")
    model = root / "model"
    _quiet(["train", str(train), "--test", str(test), "--model", str(encoder), "--out", str(model), "--overwrite"])
    default, fp32 = root / "default.onnx", root / "fp32.onnx"
    _quiet(["export", str(model), "--out", str(default), "--overwrite"])
    _quiet(["export", str(model), "--out", str(fp32), "--quantize", "none", "--overwrite"])
    manifest = Classifier.load(default).manifest
    verification = manifest.verification.to_json_dict()
    precision = verification["precision"]
    chosen = next(c for c in precision["candidates"] if c["name"] == precision["chosen"])
    first = precision["candidates"][0]  # the fastest candidate tried, whether or not it passed
    speed = _speed({"default": default, "fp32": fp32}, test_texts, reps)
    return {
        "architecture": name,
        "input_names": manifest.input_names,
        "chosen": precision["chosen"],
        "candidates": precision["candidates"],
        "first_candidate": first["name"],
        "flips": first["agreement"]["flips"],
        "flip_texts": first["agreement"]["texts"],
        "max_abs_dp": first["agreement"]["max_abs_diff"],
        "delta_points": first["paired"]["delta_points"],
        "delta_interval": [first["paired"]["delta_low"], first["paired"]["delta_high"]],
        "mcnemar_p_worse": first["paired"]["p_worse"],
        "test_texts": first["paired"]["texts"],
        "fp32_vs_torch_max_abs_diff": verification["fp32"]["max_abs_diff"],
        "fp32_accuracy": verification["fp32"].get("accuracy"),
        "fused_ops": verification["fused_ops"],
        "attention_layers": manifest.encoder_layers,
        "unfused_attention": verification.get("unfused_attention"),
        "mb": default.stat().st_size / 1e6,
        "fp32_mb": fp32.stat().st_size / 1e6,
        "texts_per_s": speed["default"],
        "speed_vs_fp32": speed["default"] / speed["fp32"],
        "chosen_passed": chosen["passed"],
    }


def _attention(r: dict) -> str:
    """``fused of layers``, with the op: what the export's unfused-attention warning is about."""
    fused = r["fused_ops"]
    n = fused.get("Attention", 0) + fused.get("MultiHeadAttention", 0)
    text = f"{n} of {r['attention_layers']}" if r.get("attention_layers") is not None else str(n)
    return text + (" **(export warns)**" if r.get("unfused_attention") else "")


def _p(p: float) -> str:
    """The artifact rounds p to 6 decimals: 0 means below 1e-6."""
    return f"{p:.2g}" if p else "<1e-6"


def markdown(results: dict) -> str:
    lines = [
        "# `probe export` with no flags, per encoder architecture",
        "",
        f"Tiny random encoders (2 layers, hidden 32; tests/architectures.py), probe trained on "
        f"{results['n_train']} synthetic sentences, gate figures from the artifact's own "
        "`verification.precision` (flips vs fp32 on the kept training sample + the test texts; accuracy Δ "
        f"on the {results['n_test']} test texts, 95 % interval, McNemar's one-sided p that the candidate is "
        "worse). They show that the export path works and what onnxruntime fuses, not how much a real "
        "checkpoint of the architecture loses to int8. Speed: texts/s of the shipped file over the test "
        f"texts relative to the fp32 file, 2 threads, median of {results['reps']} interleaved runs on 2 "
        f"shared cores (noisy). CPU: {results['cpu']}; onnxruntime {results['onnxruntime']}; "
        f"transformers {results['transformers']}.",
        "",
        "| architecture | inputs | auto chose | flips vs fp32 | max \\|Δp\\| | acc Δ points [95 % CI] | McNemar p "
        "| fp32 vs PyTorch | attention fused (of layers) / EmbedLayerNorm | MB (fp32 MB) | speed vs fp32 |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in results["rows"]:
        low, high = r["delta_interval"]
        fused = r["fused_ops"]
        chose = r["chosen"]
        if chose != r["first_candidate"]:
            chose += f" ({r['first_candidate']} refused)"
        lines.append(
            f"| {r['architecture']} | {', '.join(SHORT.get(i, i) for i in r['input_names'])} | {chose} "
            f"| {r['flips'] / r['flip_texts']:.2%} ({r['flips']}/{r['flip_texts']}) | {r['max_abs_dp']:.3f} "
            f"| {r['delta_points']:+.2f} [{low:+.2f}, {high:+.2f}] | {_p(r['mcnemar_p_worse'])} "
            f"| {r['fp32_vs_torch_max_abs_diff']:.1e} "
            f"| {_attention(r)} / {fused.get('EmbedLayerNormalization', 0)} "
            f"| {r['mb']:.2f} ({r['fp32_mb']:.2f}) | {r['speed_vs_fp32']:.2f} |"
        )
    lines += [
        "",
        "Attention: onnxruntime's BERT fusion covers BERT, DistilBERT, RoBERTa and XLM-R; MPNet's (relative "
        "position bias as the fused op's `attention_bias`) and ALBERT's first shared layer are fused by "
        "`probe_export.fusions`. DeBERTa-v2 (disentangled attention: per-layer content-to-position terms) and "
        "ModernBERT (rotary embeddings, local windows) stay unfused; the export warns in one line and records "
        "`verification.unfused_attention`. What that costs at MiniLM's size, against a fused BERT, and what "
        "fusing gained on the real all-mpnet-base-v2: research/attention_fusion/.",
        "",
        "Failed:" if results["failed"] else "",
    ]
    lines += [f"- {name}: {why}" for name, why in results["failed"].items()]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--archs", nargs="+", default=list(ARCHITECTURES), choices=list(ARCHITECTURES))
    parser.add_argument("--train", type=int, default=2000, help="synthetic training rows")
    parser.add_argument("--test", type=int, default=500, help="synthetic test rows")
    parser.add_argument("--reps", type=int, default=5, help="interleaved speed repetitions")
    args = parser.parse_args(argv)
    import transformers

    WORK.mkdir(parents=True, exist_ok=True)
    train = write_csv(WORK / "train.csv", synthetic_rows(args.train, seed=2))
    test_rows = synthetic_rows(args.test, seed=3)
    test = write_csv(WORK / "test.csv", test_rows)
    rows, failed = [], {}
    for name in args.archs:
        try:
            rows.append(measure(name, train, test, [text for text, _ in test_rows], args.reps))
            print(name, {k: v for k, v in rows[-1].items() if k != "candidates"}, flush=True)
        except Exception as exc:  # one architecture failing must not hide the others' figures
            failed[name] = str(exc).strip().splitlines()[-1][:300]
            print(name, "FAILED", failed[name], flush=True)
    results = {
        "cpu": cpu_name(),
        "onnxruntime": ort.__version__,
        "transformers": transformers.__version__,
        "n_train": args.train,
        "n_test": args.test,
        "reps": args.reps,
        "rows": rows,
        "failed": failed,
    }
    write_results(RESULTS / "architecture_matrix.json", results, markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
