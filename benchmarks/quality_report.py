"""fp32 vs int8 on every shared dataset: accuracy, macro-F1, flip rate, file size, throughput.

Regenerate docs/results.md (and benchmarks/results/quality.json) with:

    .venv/bin/python benchmarks/quality_report.py

It drives the real CLI (`probe train`, `probe export`) so the figures are what users get, reads the
datasets from ../shared/data (skipping any that is absent), and times every file of a dataset
interleaved in the same run (2 threads, median of repetitions): compare ratios, not absolute rates.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import platform
import statistics
import sys
import time
from datetime import datetime, timezone
from pathlib import Path

import numpy as np
from probe_export.cli import main as probe
from probe_runtime import Classifier
from probe_train.data import align_labels, load_dataset
from sklearn.metrics import f1_score

ROOT = Path(__file__).resolve().parents[1]
SHARED = ROOT.parent / "shared" / "data"
WORK = ROOT / "benchmarks" / ".work" / "quality"
RESULTS = ROOT / "benchmarks" / "results"
DATASETS = ["prompt_injections", "sms_spam", "tweeteval_offensive", "sst2"]
# Each int8 variant is one `probe export` invocation; the first is the default a user gets.
VARIANTS = {
    "fp32": ["--quantize", "none"],
    # Per-batch int8 was the default when docs/results.md was measured (`auto` is now): kept by name so
    # `--from-json` still reads the recorded results.
    "int8 (default)": ["--quantize", "int8"],
    "int8-per-token": ["--quantize", "int8-per-token"],
}


def _quiet(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return probe(argv)


def build(dataset: str, max_train: int | None, reuse: bool) -> tuple[dict[str, Path], float]:
    """Train the probe once (or reuse it), export every variant; returns the files and the training time."""
    work = WORK / dataset
    work.mkdir(parents=True, exist_ok=True)
    train_csv = SHARED / dataset / "train.csv"
    if max_train:
        train_csv = _subsample(train_csv, work / "train-subset.csv", max_train)
    report = work / "probe" / "report.json"
    if reuse and report.is_file():
        seconds = json.loads(report.read_text())["train_seconds"]
    else:
        started = time.perf_counter()
        argv = ["train", str(train_csv), "--test", str(SHARED / dataset / "test.csv"), "--out", str(work / "probe")]
        assert _quiet(argv) == 0, f"training failed on {dataset}"
        seconds = time.perf_counter() - started
    files = {}
    for name, extra in VARIANTS.items():
        path = work / (name.replace(" ", "-").replace("(", "").replace(")", "") + ".onnx")
        # The gate opened: the report measures each precision, whatever the exporter would choose.
        open_gate = ["--max-flip-rate", "100", "--significance", "0"]
        argv = ["export", str(work / "probe"), "--out", str(path), *open_gate, *extra]
        assert _quiet(argv) == 0, f"export {name} failed on {dataset}"
        files[name] = path
    return files, seconds


def _subsample(src: Path, dst: Path, n: int) -> Path:
    """A seeded, stratified subset (for the largest training set on 2 cores)."""
    import csv

    with open(src, newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    rng = np.random.default_rng(0)
    keep = sorted(rng.choice(len(rows), size=min(n, len(rows)), replace=False))
    with open(dst, "w", newline="", encoding="utf-8") as f:
        writer = csv.DictWriter(f, fieldnames=["text", "label"])
        writer.writeheader()
        writer.writerows({"text": rows[i]["text"], "label": rows[i]["label"]} for i in keep)
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


def measure(dataset: str, files: dict[str, Path], reps: int) -> dict[str, dict]:
    test = load_dataset(SHARED / dataset / "test.csv", min_classes=1)
    models = {name: Classifier.load(path, threads=2) for name, path in files.items()}
    labels = next(iter(models.values())).labels
    y = align_labels(test, labels).y
    probs = {name: m.predict_proba(test.texts) for name, m in models.items()}
    # What an app calling with one text at a time gets: dynamic int8 depends on the batch.
    alone = {name: np.stack([m.predict_proba(t) for t in test.texts]) for name, m in models.items()}
    rates = throughput(models, test.texts, reps)
    fp32 = probs["fp32"]
    rows = {}
    for name, p in probs.items():
        pred = p.argmax(1)
        rate = rates[name]
        rows[name] = {
            "accuracy": float((pred == y).mean()),
            "accuracy_one_by_one": float((alone[name].argmax(1) == y).mean()),
            "flip_rate_one_by_one": float((alone[name].argmax(1) != fp32.argmax(1)).mean()),
            "macro_f1": float(f1_score(y, pred, average="macro")),
            "flip_rate": float((pred != fp32.argmax(1)).mean()),
            "max_abs_diff": float(np.abs(p - fp32).max()),
            "mb": files[name].stat().st_size / 1e6,
            "texts_per_s": statistics.median(rate),
            "texts_per_s_min": min(rate),
            "texts_per_s_max": max(rate),
        }
    return {"n_test": len(test), "variants": rows}


def markdown(results: dict) -> str:
    lines = [
        "# Results: fp32 vs int8",
        "",
        f"Generated {results['generated']} by `{results['command']}` on {results['machine']}.",
        "MiniLM-L6 (all-MiniLM-L6-v2) mean-pooling probe, logistic regression with C chosen by stratified CV.",
        "Accuracy and macro-F1 on each dataset's test split; flips = predictions that differ from the fp32",
        "file; one text per call = the same file called with one text at a time, as an app would (dynamic int8",
        "scales activations per batch, so the default int8 file can answer differently); throughput = texts/s",
        "over the test split, 2 threads, median (min–max) of interleaved",
        "repetitions in the same run. Timings on a 2-core machine are noisy: compare within a row.",
        "",
        "| dataset | train / test | file | accuracy | Δ vs fp32 (pts) | one text per call: accuracy, Δ | macro-F1 "
        "| flips | max abs Δp | MB | texts/s |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for dataset, r in results["datasets"].items():
        fp32 = r["variants"]["fp32"]["accuracy"]
        for name, v in r["variants"].items():
            delta = 100 * (v["accuracy"] - fp32)
            alone = v.get("accuracy_one_by_one")
            one_by_one = "–" if alone is None else f"{alone:.4f}, {100 * (alone - fp32):+.2f}"
            lines.append(
                f"| {dataset} | {r['n_train']} / {r['n_test']} | {name} | {v['accuracy']:.4f} | {delta:+.2f} "
                f"| {one_by_one} | {v['macro_f1']:.4f} | {v['flip_rate']:.2%} | {v['max_abs_diff']:.3f} "
                f"| {v['mb']:.1f} "
                f"| {v['texts_per_s']:.0f} ({v['texts_per_s_min']:.0f}–{v['texts_per_s_max']:.0f}) |"
            )
    lines += ["", "Training times (embedding + cross-validated fit, this machine):", ""]
    lines += [f"- {d}: {r['train_seconds']:.0f} s" for d, r in results["datasets"].items()]
    studies = {  # each generated by its own script; included when it has run
        "int8_variants.md": "## int8 recipes compared (SST-2 dev, `python benchmarks/int8_variants.py`)",
        "int8_target.md": "## Can any int8 recipe meet the target? (all four test splits, "
        "`python benchmarks/int8_target.py`)",
        "finetune.md": None,  # carries its own heading
    }
    for name, heading in studies.items():
        if (RESULTS / name).is_file():
            lines += ["", heading, ""] if heading else [""]
            lines.append((RESULTS / name).read_text().strip())
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=DATASETS)
    parser.add_argument("--max-train", type=int, default=None, help="subsample training sets larger than this")
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--reuse-trained", action="store_true", help="re-export probes trained by an earlier run")
    parser.add_argument("--out", default=str(ROOT / "docs" / "results.md"))
    parser.add_argument(
        "--from-json", action="store_true", help="only rebuild the markdown from benchmarks/results/quality.json"
    )
    args = parser.parse_args(argv)
    if args.from_json:
        Path(args.out).write_text(markdown(json.loads((RESULTS / "quality.json").read_text())))
        return 0
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    results = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python benchmarks/quality_report.py " + " ".join(argv or sys.argv[1:]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
        "datasets": {},
    }
    for dataset in args.datasets:
        if not (SHARED / dataset / "train.csv").is_file():
            print(f"skipping {dataset}: not found under {SHARED}", file=sys.stderr)
            continue
        print(f"{dataset}: training and exporting ...", file=sys.stderr)
        files, seconds = build(dataset, args.max_train, args.reuse_trained)
        n_train = len(
            load_dataset(
                WORK / dataset / "train-subset.csv"
                if args.max_train and (WORK / dataset / "train-subset.csv").is_file()
                else SHARED / dataset / "train.csv"
            )
        )
        results["datasets"][dataset] = {
            "n_train": n_train,
            "train_seconds": seconds,
            **measure(dataset, files, args.reps),
        }
        print(json.dumps(results["datasets"][dataset]["variants"], indent=1), file=sys.stderr)
    RESULTS.mkdir(parents=True, exist_ok=True)
    (RESULTS / "quality.json").write_text(json.dumps(results, indent=2) + "\n")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(markdown(results))
    print(f"wrote {args.out} and {RESULTS / 'quality.json'}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
