"""Decisions users can set, measured: operating points on prompt injection, calibration on every dataset.

Regenerate the section of docs/results.md between the decisions markers (and benchmarks/results/decisions.json):

    nice -n 5 .venv/bin/python -m benchmarks.decisions_report

It drives the real CLI (`probe train`), reading the figures back from each model's report.json:

- **operating points** (prompt injection): a probe trained with ``--operating-point fpr=0.05`` and a
  fine-tuned model with ``--operating-point fpr=0.01``; the threshold is chosen on data the model did not
  fit (the probe's cross-validated predictions, the fine-tuning validation split) and the test split's
  FPR and recall at it are shown next to argmax's on the same (calibrated) probabilities;
- **calibration** (every dataset found): ECE (15 equal-width bins of the top probability) and Brier
  (squared error summed over classes) on the test split before and after temperature scaling.

Scale: probes on every training set, subsampled to ``--max-train`` texts (default 2,000, seeded, as
`quality_report` subsamples SST-2); fine-tuning on prompt injection only unless ``--finetune-all``,
with ``--epochs`` (default 3). Both reductions are written into the document.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from benchmarks.paths import REPO, WORK, data_root, dataset_file
from benchmarks.quality_report import DATASETS, _quiet, subsample
from benchmarks.record import host_line, write_results, write_section

__all__ = ["main", "markdown"]

SECTION = "decisions-report"  # docs/results.md's part this report owns (`benchmarks.record.write_section`)
RESULTS = REPO / "benchmarks" / "results" / "decisions.json"
POINTS = {"probe": "fpr=0.05", "finetune": "fpr=0.01"}  # on prompt injection, as the issue asks
OPERATING_DATASET = "prompt_injections"


def _train(dataset: str, train_csv: Path, out: Path, method: str, extra: list[str], reuse: bool) -> dict[str, Any]:
    """`probe train` (or an earlier run's report with ``reuse``); returns its report.json with the seconds."""
    report = out / "report.json"
    if not (reuse and report.is_file()):
        argv = ["train", str(train_csv), "--test", str(dataset_file(dataset, "test")), "--out", str(out)]
        argv += ["--overwrite", "--method", method, *extra]
        started = time.perf_counter()
        assert _quiet(argv) == 0, f"training ({method}) failed on {dataset}"
        print(f"  {method} {' '.join(extra)}: {time.perf_counter() - started:.0f} s", file=sys.stderr)
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def _summary(report: dict[str, Any]) -> dict[str, Any]:
    """The figures the document shows, from one report.json."""
    keep = ("accuracy", "macro_f1", "n", "n_train", "roc_auc", "pr_auc", "calibration", "train_seconds")
    summary = {k: report[k] for k in keep if k in report}
    point = report.get("operating_point")
    if point:
        summary["operating_point"] = {"decision": point["decision"], "test": point.get("test", {})}
    return summary


def run(args: argparse.Namespace) -> dict[str, Any]:
    results: dict[str, Any] = {
        "generated": datetime.now(timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "command": "python -m benchmarks.decisions_report " + " ".join(args.argv),
        "max_train": args.max_train,
        "epochs": args.epochs,
        "datasets": {},
    }
    for dataset in args.datasets:
        if not (data_root() / dataset / "train.csv").is_file():
            print(f"skipping {dataset}: not found under {data_root()} (set PROBE_DATA)", file=sys.stderr)
            continue
        print(f"{dataset}:", file=sys.stderr)
        work = WORK / "decisions" / dataset
        work.mkdir(parents=True, exist_ok=True)
        train_csv = subsample(dataset_file(dataset, "train"), work / "train-subset.csv", args.max_train)
        entry: dict[str, Any] = {}
        methods = ["probe", "finetune"] if (args.finetune_all or dataset == OPERATING_DATASET) else ["probe"]
        methods = [m for m in methods if m in args.methods]
        for method in methods:
            extra = ["--operating-point", POINTS[method]] if dataset == OPERATING_DATASET else []
            if method == "finetune":
                extra += ["--epochs", str(args.epochs)]
            entry[method] = _summary(_train(dataset, train_csv, work / method, method, extra, args.reuse_trained))
        results["datasets"][dataset] = entry
    return results


def _pct(value: float) -> str:
    return f"{100 * value:.1f} %"


def _operating_rows(results: dict[str, Any]) -> list[str]:
    entry = results["datasets"].get(OPERATING_DATASET, {})
    rows = []
    for method, r in entry.items():
        point = r.get("operating_point")
        if not point or "threshold" not in point["test"]:
            continue
        d, at, argmax = point["decision"], point["test"]["threshold"], point["test"]["argmax"]
        chosen = d["validation"]
        rows.append(
            f"| {method} | {d['rule']} ≤ {d['target']:g} | {d['threshold']:.4f} | {_pct(chosen['fpr'])} / "
            f"{_pct(chosen['recall'])} | **{_pct(at['fpr'])}** / **{_pct(at['recall'])}** | "
            f"{_pct(argmax['fpr'])} / {_pct(argmax['recall'])} | {at['texts']} ({at['positives']} injections) |"
        )
    return rows


def _calibration_rows(results: dict[str, Any]) -> list[str]:
    rows = []
    for dataset, entry in results["datasets"].items():
        for method, r in entry.items():
            c = r.get("calibration")
            if not c:
                continue
            auc = f"{r['roc_auc']:.4f}" if "roc_auc" in r else "–"
            rows.append(
                f"| {dataset} | {method} | {r.get('n_train', '–')} / {r.get('n', '–')} | {c['temperature']:g} | "
                f"{c['ece_before']:.4f} → {c['ece_after']:.4f} | {c['brier_before']:.4f} → {c['brier_after']:.4f} | "
                f"{auc} |"
            )
    return rows


def markdown(results: dict[str, Any]) -> str:
    """The document's section (without the markers)."""
    lines = [
        "## Decisions: operating points and calibration",
        "",
        f"Generated {results['generated']} by `{results['command']}` (all-MiniLM-L6-v2). Reduced scale: "
        "training sets subsampled (seeded) to the sizes in the *train* column; "
        + (
            f"fine-tuning {results['epochs']} epochs, on prompt injection only. "
            if any("finetune" in e for e in results["datasets"].values())
            else "no fine-tuned model in this generation (`--methods probe`). "
        )
        + "The 2 cores were shared with "
        "other jobs (this affects times only).",
        "",
        "**Operating points on prompt injection.** The threshold on P(injection) is chosen on data the model did "
        "not fit (the probe: 5-fold cross-validated predictions on the training set; fine-tuning: its "
        "validation split) and applied to the test split; argmax is the same calibrated model without it.",
        "",
        "| model | target | threshold | FPR / recall where chosen | test FPR / recall at threshold | "
        "test FPR / recall at argmax | test texts |",
        "|---|---|---|---|---|---|---|",
        *_operating_rows(results),
        "",
        "**Calibration** on each test split: temperature T fitted on the same held-out data; ECE over 15 "
        "equal-width bins of the top probability; Brier = squared error summed over classes (twice the binary "
        "definition). Temperature scaling never changes a label, so accuracy is unchanged.",
        "",
        "| dataset | model | train / test | T | ECE before → after | Brier before → after | ROC-AUC |",
        "|---|---|---|---|---|---|---|",
        *_calibration_rows(results),
        "",
        host_line(results["host"]),
    ]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--datasets", nargs="+", default=list(DATASETS))
    parser.add_argument("--max-train", type=int, default=2000, help="subsample every training set to this size")
    parser.add_argument("--epochs", type=int, default=3, help="fine-tuning epochs")
    parser.add_argument(
        "--finetune-all", action="store_true", help="fine-tune on every dataset, not only prompt injection"
    )
    parser.add_argument("--methods", nargs="+", default=["probe", "finetune"], choices=["probe", "finetune"])
    parser.add_argument("--reuse-trained", action="store_true", help="read the reports of an earlier run")
    parser.add_argument("--out", default=str(REPO / "docs" / "results.md"))
    parser.add_argument("--from-json", action="store_true", help="only rebuild the section from the results JSON")
    args = parser.parse_args(argv)
    args.argv = list(sys.argv[1:] if argv is None else argv)
    if args.from_json:
        results = json.loads(RESULTS.read_text())
    else:
        os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
        results = write_results(RESULTS, run(args))
    write_section(Path(args.out), SECTION, markdown(results))
    print(f"wrote {RESULTS} and the decisions section of {args.out}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
