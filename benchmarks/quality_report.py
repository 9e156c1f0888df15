"""What `probe export` ships on every shared dataset: the precision `auto` chose, flips, Δ accuracy, size, speed.

Regenerate docs/results.md (and benchmarks/results/quality.json) with:

    PYTHONPATH=... nice -n 5 .venv/bin/python benchmarks/quality_report.py
    # the real all-mpnet-base-v2 (prepared by benchmarks/prepare_mpnet.py), its own JSON, same document:
    PYTHONPATH=... nice -n 5 .venv/bin/python benchmarks/quality_report.py \
        --model benchmarks/.work/all-mpnet-base-v2 --datasets sst2

It drives the real CLI (`probe train`, `probe export`) so the figures are what users get, reads the
datasets from ../shared/data (skipping any that is absent; every training set in full except SST-2, on
a seeded 2,000-phrase subset as in README.md), and per dataset exports three files from one trained probe:

- **default (auto)**: `probe export` with no flags, i.e. `--quantize auto` and its gate; which precision
  it chose and every candidate's figures are read back from the artifact's `verification.precision`;
- **fp32**: `--quantize none`, the reference;
- **int8 (per batch)**: `--quantize int8` with the gate opened (`--max-flip-rate 100 --significance 0`),
  the fastest and batch-dependent opt-in, so its cost is on record whatever the gate would say.

Flips, Δ accuracy (95 % interval) and McNemar's p are the exporter's own figures (flips on the training
sample the model directory keeps plus the test texts; accuracy paired on the test texts). Speed is
measured here: every file of a dataset timed interleaved in the same run (2 threads, batched over the
test texts), reported as the median per-repetition ratio to fp32. The CPU is named in the output.

Each run writes benchmarks/results/quality.json (quality_<encoder>.json with --model), and the document
is built from every quality*.json present (`--from-json` rebuilds it without running anything). The
JSON written before `auto` became the default (no `precision` per file) is no longer read.
"""

from __future__ import annotations

import argparse
import contextlib
import csv
import io
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

import numpy as np
from probe_export.cli import main as probe
from probe_runtime import Classifier
from probe_train.data import align_labels, load_dataset
from sklearn.metrics import f1_score

sys.path.insert(0, str(Path(__file__).resolve().parent))
from nbits_kernel import cpu_name

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / ".work" / "quality"
RESULTS = ROOT / "benchmarks" / "results"
# dataset -> training subset size (None: the whole training set)
DATASETS = {"prompt_injections": None, "sms_spam": None, "tweeteval_offensive": None, "sst2": 2000}
DEFAULT, FP32, INT8 = "default (auto)", "fp32", "int8 (per batch)"
OPEN_GATE = ["--max-flip-rate", "100", "--significance", "0"]
VARIANTS = {DEFAULT: [], FP32: ["--quantize", "none"], INT8: ["--quantize", "int8", *OPEN_GATE]}


def _quiet(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return probe(argv)


def _slug(name: str) -> str:
    return name.replace(" ", "-").replace("(", "").replace(")", "")


def build(
    dataset: str, train_csv: Path, work: Path, model: str | None, reuse: bool
) -> tuple[dict[str, Path], dict[str, float], float]:
    """Train the probe once (or reuse it), export every variant; returns the files, export and training times."""
    report = work / "probe" / "report.json"
    if reuse and report.is_file():
        seconds = json.loads(report.read_text())["train_seconds"]
    else:
        started = time.perf_counter()
        argv = ["train", str(train_csv), "--test", str(SHARED / dataset / "test.csv"), "--out", str(work / "probe")]
        argv += ["--overwrite"] + (["--model", model] if model else [])
        assert _quiet(argv) == 0, f"training failed on {dataset}"
        seconds = time.perf_counter() - started
    files, export_seconds = {}, {}
    for name, extra in VARIANTS.items():
        path = work / f"{_slug(name)}.onnx"
        started = time.perf_counter()
        argv = ["export", str(work / "probe"), "--out", str(path), "--overwrite", *extra]
        assert _quiet(argv) == 0, f"export {name} failed on {dataset}"
        export_seconds[name] = time.perf_counter() - started
        files[name] = path
    return files, export_seconds, seconds


def subsample(src: Path, dst: Path, n: int) -> Path:
    """A seeded subset of the training file (SST-2's 67,349 phrases would take too long on 2 shared cores)."""
    with open(src, newline="", encoding="utf-8") as f:
        reader = csv.DictReader(f)
        fields, rows = reader.fieldnames, list(reader)
    keep = sorted(np.random.default_rng(0).permutation(len(rows))[:n])
    with open(dst, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows[i] for i in keep)
    return dst


def throughput(models: dict[str, Classifier], texts: list[str], reps: int) -> dict[str, list[float]]:
    """texts/s of each model over ``texts``, ``reps`` times, interleaved so load changes hit every model alike."""
    rates: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(reps):
        for name, model in models.items():
            started = time.perf_counter()
            model.predict_proba(texts)
            rates[name].append(len(texts) / (time.perf_counter() - started))
    return rates


def _shipped(model: Classifier) -> dict[str, Any]:
    """The exporter's record of the precision it shipped: the chosen candidate's figures, and who was refused."""
    record = model.manifest.verification["precision"]
    chosen = next(c for c in record["candidates"] if c["name"] == record["chosen"])
    refused = {c["name"]: c["reasons"] for c in record["candidates"] if not c["passed"]}
    return {
        "requested": record["requested"],
        "chosen": record["chosen"],
        "agreement": chosen["agreement"],
        "paired": chosen.get("paired"),
        "paired_one_by_one": chosen.get("paired_one_by_one"),
        "batch_independent": chosen["batch_independent"],
        "refused": refused,
    }


def measure(dataset: str, files: dict[str, Path], reps: int) -> dict[str, Any]:
    test = load_dataset(SHARED / dataset / "test.csv", min_classes=1)
    models = {name: Classifier.load(path, threads=2) for name, path in files.items()}
    y = align_labels(test, models[FP32].labels).y
    probs = {name: m.predict_proba(test.texts) for name, m in models.items()}
    rates = throughput(models, test.texts, reps)
    rows = {}
    for name, p in probs.items():
        pred = p.argmax(1)
        ratios = [r / f for r, f in zip(rates[name], rates[FP32], strict=True)]
        rows[name] = {
            "precision": _shipped(models[name]),
            "accuracy": float((pred == y).mean()),
            "macro_f1": float(f1_score(y, pred, average="macro")),
            "mb": files[name].stat().st_size / 1e6,
            "texts_per_s": statistics.median(rates[name]),
            "speed_vs_fp32": statistics.median(ratios),
            "speed_vs_fp32_min": min(ratios),
            "speed_vs_fp32_max": max(ratios),
        }
    return {"n_test": len(test), "variants": rows}


def _row(encoder: str, dataset: str, r: dict[str, Any], name: str, v: dict[str, Any]) -> str:
    shipped = v["precision"]
    agree, paired = shipped["agreement"], shipped["paired"]
    flips = f"{agree['flip_rate']:.2%} ({agree['flips']} of {agree['texts']})"
    if paired is None:
        delta = p = "–"
    else:
        delta = f"{paired['delta_points']:+.2f} [{paired['delta_low']:+.2f}, {paired['delta_high']:+.2f}]"
        p = "–" if paired["lost"] + paired["gained"] == 0 else f"{paired['p_worse']:.2f}"
        alone_paired = shipped.get("paired_one_by_one")
        if alone_paired and alone_paired["delta_points"] != paired["delta_points"]:
            delta += f"; one text per call {alone_paired['delta_points']:+.2f}"
    precision = {"none": "fp32"}.get(shipped["chosen"], shipped["chosen"])
    if shipped["requested"] == "auto" and shipped["refused"]:
        precision += f" ({', '.join(shipped['refused'])} refused)"
    alone = "yes" if shipped["batch_independent"] else "**no**"
    speed = f"{v['speed_vs_fp32']:.2f}× ({v['speed_vs_fp32_min']:.2f}–{v['speed_vs_fp32_max']:.2f})"
    if name == FP32:
        flips, delta, p, speed = "–", "–", "–", f"1 ({v['texts_per_s']:.0f} texts/s)"
    return (
        f"| {dataset} | {encoder} | {r['n_train']:,} / {r['n_test']:,} | {name} | {precision} | {flips} | {delta} "
        f"| {p} | {v['accuracy']:.4f} | {v['macro_f1']:.4f} | {alone} | {v['mb']:.1f} | {speed} "
        f"| {r['export_seconds'][name]:.0f} s |"
    )


def markdown(runs: list[dict[str, Any]]) -> str:
    cpus = sorted({run["cpu"] for run in runs})
    lines = [
        "# Results: what `probe export` ships",
        "",
        *(f"Generated {run['generated']} by `{run['command']}` ({run['encoder']})." for run in runs),
        f"CPU: {'; '.join(cpus)}; {runs[0]['machine']}. Mean-pooling probe, logistic regression with C chosen",
        "by stratified CV, trained with `probe train` on each dataset's training set (SST-2: a seeded",
        "2,000-phrase subset) and evaluated on its full test split.",
        "",
        "- **default (auto)** is `probe export` with no flags: it tries per-token int8, then fp32, and ships",
        "  the first that passes the gate (flips vs fp32 ≤ 3 %; McNemar one-sided p ≥ 0.05; the same answer",
        "  for a text alone or in a batch). **int8 (per batch)** is `--quantize int8` with the gate opened:",
        "  the fastest file, whose answer for a text can depend on its batch-mates.",
        "- *flips*: labels that differ from fp32's on the training sample the model directory keeps plus the",
        "  test texts; *Δ acc*: accuracy minus fp32's on the test texts, in points, with its 95 % interval;",
        "  *p*: McNemar's exact one-sided p that the file is less accurate than fp32 (– when no test text",
        "  changed). These three are the exporter's own figures, read from the artifact.",
        "  *alone = batched*: the answer for a text alone equals its answer in a batch (|Δp| ≤ 1e-4).",
        "- *speed*: texts/s batched over the test split (2 threads) relative to the fp32 file, median (min–max)",
        "  of per-repetition ratios, all files timed interleaved in the same run. The 2 cores were shared with",
        "  another job throughout, so ratios are noisy and absolute rates are not comparable across rows.",
        "  For per-batch int8, *one text per call* is its Δ when each test text is classified alone (the",
        "  exporter's gate counts the worse of the two). Its Δ and its *accuracy* column (the test split",
        "  classified on its own, by this report) can disagree: the exporter classifies the test texts in",
        "  batches with the training sample, and per-batch int8's answers depend on their batch-mates.",
        "- *export*: wall-clock time of that `probe export` (for auto: every candidate tried and verified).",
        "",
        "| dataset | encoder | train / test | file | precision | flips vs fp32 | Δ acc, pts [95 % CI] | p "
        "| accuracy | macro-F1 | alone = batched | MB | speed vs fp32 | export |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for run in runs:
        for dataset, r in run["datasets"].items():
            lines += [_row(run["encoder"], dataset, r, name, v) for name, v in r["variants"].items()]
    # A run's "notes" (added to its JSON by hand) record what the figures cannot show, e.g. a paused process.
    notes = [f"- {run['encoder']}: {note}" for run in runs for note in run.get("notes", [])]
    lines += ["", "Notes on the runs:", "", *notes] if notes else []
    lines += ["", "Training times (`probe train`: embedding + cross-validated fit, shared CPU):", ""]
    lines += [
        f"- {d} ({run['encoder']}): {r['train_seconds']:.0f} s" for run in runs for d, r in run["datasets"].items()
    ]
    studies = {  # each generated by its own script; included when it has run
        "int8_variants.md": "## int8 recipes compared (SST-2 dev, `python benchmarks/int8_variants.py`)",
        "int8_target.md": "## Can any int8 recipe meet the target? (all four test splits, "
        "`python benchmarks/int8_target.py`)",
        "finetune.md": None,  # carries its own heading
    }
    lines += [
        "",
        "The studies below were measured when per-batch int8 was the default: where they say *default*,",
        "read `--quantize int8` ([benchmarks/results/int8_candidates.md](../benchmarks/results/int8_candidates.md)",
        "compares the candidates `auto` was chosen from).",
    ]
    for name, heading in studies.items():
        if (RESULTS / name).is_file():
            lines += ["", heading, ""] if heading else [""]
            lines.append((RESULTS / name).read_text().strip())
    return "\n".join(lines) + "\n"


def _runs() -> list[dict[str, Any]]:
    """Every recorded run (quality.json first), in the format this script writes."""
    paths = sorted(RESULTS.glob("quality*.json"), key=lambda p: (p.name != "quality.json", p.name))
    runs = []
    for path in paths:
        run = json.loads(path.read_text())
        if "encoder" in run:
            runs.append(run)
        else:
            print(f"skipping {path}: written before `auto` was the default; rerun the report", file=sys.stderr)
    return runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--model", default=None, help="encoder directory or id for `probe train --model`")
    parser.add_argument("--max-train", type=int, default=None, help="subsample every training set to this size")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--reuse-trained", action="store_true", help="re-export probes trained by an earlier run")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results.md"))
    parser.add_argument("--from-json", action="store_true", help="only rebuild the markdown from the results JSON")
    args = parser.parse_args(argv)
    if args.from_json:
        Path(args.out).write_text(markdown(_runs()))
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    encoder = Path(args.model).name if args.model else "all-MiniLM-L6-v2"
    results: dict[str, Any] = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/quality_report.py " + " ".join(argv or sys.argv[1:]),
        "encoder": encoder,
        "cpu": cpu_name(),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "datasets": {},
    }
    for dataset in args.datasets:
        if not (SHARED / dataset / "train.csv").is_file():
            print(f"skipping {dataset}: not found under {SHARED}", file=sys.stderr)
            continue
        print(f"{dataset}: training and exporting ...", file=sys.stderr)
        work = WORK / (dataset if args.model is None else f"{dataset}-{encoder}")
        work.mkdir(parents=True, exist_ok=True)
        train_csv = SHARED / dataset / "train.csv"
        subset = args.max_train or DATASETS.get(dataset)
        if subset:
            train_csv = subsample(train_csv, work / "train-subset.csv", subset)
        files, export_seconds, seconds = build(dataset, train_csv, work, args.model, args.reuse_trained)
        results["datasets"][dataset] = {
            "n_train": len(load_dataset(train_csv)),
            "train_seconds": seconds,
            "export_seconds": export_seconds,
            **measure(dataset, files, args.reps),
        }
        print(json.dumps(results["datasets"][dataset]["variants"], indent=1), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    out_json = RESULTS / ("quality.json" if args.model is None else f"quality_{encoder}.json")
    out_json.write_text(json.dumps(results, indent=2) + "\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(markdown(_runs()))
    print(f"wrote {args.out} and {out_json}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
