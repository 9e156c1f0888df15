"""Per-layer probe curves for the shared datasets, and what the recommended layer buys at export.

    python -m benchmarks.layer_report [--model minilm|DIR] [--datasets a,b] [--max-train N] [--export]

For each dataset: `probe_train.layers.sweep_layers` (every layer x cls/mean/max x with/without L2, the
recommendation from cross-validation on the training data, test accuracy shown), a plot per dataset,
and with ``--export`` the recommended layer and the last layer each trained (`probe train`, on the same
training rows as the sweep: a seeded sample is written to a CSV first) and exported (`probe export`,
default precision) so the file size and the throughput over the test texts (`Classifier.predict_proba`,
2 threads) stand side by side; the two files are timed in alternation, ``ROUNDS`` times each, best kept,
so a busy machine slows both alike. MPNet: prepare it with ``python -m benchmarks.prepare_mpnet`` and
pass ``--model benchmarks/.work/all-mpnet-base-v2``.
Results: benchmarks/results/layers_<model>.{json,md} and layers_<model>_<dataset>.png; the section
``probe-layers`` of docs/results.md is regenerated from every layers_<model>.json there.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.paths import REPO, WORK, dataset_file
from benchmarks.record import host_line, write_results, write_section
from benchmarks.splits import train_test

DATASETS = ("prompt_injections", "sms_spam", "tweeteval_offensive", "sst2")
RESULTS = REPO / "benchmarks" / "results"
DOC = REPO / "docs" / "results.md"
SECTION = "probe-layers"  # docs/results.md's part this report owns (`benchmarks.record.write_section`)
ROUNDS = 3  # alternating timing rounds per exported file


def _train_file(name: str, train: Any, full: int) -> Path:
    """The training rows the sweep used, as a file `probe train` reads: the dataset's own, or the sample written out."""
    if len(train) == full:
        return dataset_file(name, "train")
    import csv

    path = WORK / "layers" / f"{name}-train-{len(train)}.csv"
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(["text", "label"])
        writer.writerows((text, train.labels[int(y)]) for text, y in zip(train.texts, train.y))
    return path


def _throughput(files: dict[str, Any], texts: list[str]) -> dict[str, float]:
    """Texts per second of each loaded classifier, timed in alternation (best of ``ROUNDS``)."""
    best = dict.fromkeys(files, float("inf"))
    for clf in files.values():
        clf.predict_proba(texts[:64])  # warm-up
    for _ in range(ROUNDS):
        for tag, clf in files.items():
            started = time.perf_counter()
            clf.predict_proba(texts)
            best[tag] = min(best[tag], time.perf_counter() - started)
    return {tag: len(texts) / seconds for tag, seconds in best.items()}


def _export_pair(name: str, data: Path, test: Path, model: str | None, layer: int, pooling: str, l2: bool) -> dict:
    """Train and export at ``layer`` and at the last layer: size, throughput and accuracy of each file."""
    from probe_export.cli import main as probe
    from probe_runtime import Classifier
    from probe_runtime.records import Figures
    from probe_train.data import load_dataset

    texts = load_dataset(str(test), "text", "label", 1).texts
    out: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    prefix = f"{Path(model).name}-" if model else ""
    for tag, at in (("recommended", layer), ("last", -1)):
        root = WORK / "layers" / f"{prefix}{name}-{tag}"
        args = ["train", str(data), "--test", str(test), "--out", str(root), "--overwrite", "--layer", str(at)]
        args += ["--pooling", pooling, "--normalize" if l2 else "--no-normalize"]
        if model:
            args += ["--model", model]
        assert probe(args) == 0
        artifact = root.with_suffix(".onnx")
        assert probe(["export", str(root), "--out", str(artifact), "--overwrite"]) == 0
        clf = loaded[tag] = Classifier.load(artifact, threads=2)
        m = clf.manifest
        out[tag] = {
            "layer": at,
            "encoder_layers": m.encoder_layers,
            "quantization": str(m.quantization),
            "mb": artifact.stat().st_size / 1e6,
            "accuracy": (m.verification.int8 or m.verification.fp32 or Figures()).accuracy,
        }
    for tag, speed in _throughput(loaded, texts).items():
        out[tag]["texts_per_second"] = speed
    out["speedup"] = out["recommended"]["texts_per_second"] / out["last"]["texts_per_second"]
    return out


def _name(score: dict[str, Any]) -> str:
    return f"layer {score['layer']} {score['pooling']}{'+l2' * score['normalize']}"


def _markdown(model: str, rows: list[dict[str, Any]], note: str, heading: str = "#") -> str:
    lines = [f"{heading} Layer sweep: {model}", "", note, ""]
    lines += [
        "| dataset | train rows | best (CV %) | recommended (CV % ± std, test %) | last layer mean, test % |",
        "|---|---:|---|---|---:|",
    ]
    for r in rows:
        s, b, rec = r["sweep"], r["sweep"]["best"], r["sweep"]["recommended"]
        last = next(
            x for x in s["scores"] if x["layer"] == s["n_layers"] and x["pooling"] == "mean" and not x["normalize"]
        )
        lines.append(
            f"| {r['dataset']} | {s['n_train']} | {_name(b)} ({100 * b['cv_accuracy']:.2f}) | {_name(rec)} "
            f"({100 * rec['cv_accuracy']:.2f} ± {100 * rec['cv_spread']:.2f}, {100 * (rec['accuracy'] or 0):.2f}) | "
            f"{100 * (last['accuracy'] or 0):.2f} |"
        )
    exports = [r for r in rows if "export" in r]
    if exports:
        lines += [
            "",
            "Exported (`probe train` at the layer, pooling and normalisation named, then `probe export`, default "
            "`--quantize auto`); texts/s over the test texts, 2 threads, the two files timed in alternation:",
            "",
            "| dataset | file | layers in graph | MB | texts/s | test accuracy % | speed-up |",
            "|---|---|---:|---:|---:|---:|---:|",
        ]
        for r in exports:
            for tag in ("recommended", "last"):
                e = r["export"][tag]
                speedup = f"{r['export']['speedup']:.2f}x" if tag == "recommended" else "1.00x"
                lines.append(
                    f"| {r['dataset']} | {tag} ({e['quantization']}) | {e['encoder_layers']} | {e['mb']:.1f} | "
                    f"{e['texts_per_second']:.0f} | {100 * (e['accuracy'] or 0):.2f} | {speedup} |"
                )
    return "\n".join(lines)


def _section() -> str:
    """docs/results.md's ``probe-layers`` section: every model's table (from its results JSON) and curves."""
    import json

    parts = [
        "## Which layer? Per-layer probe curves (`benchmarks/layer_report.py`)",
        "",
        "Every hidden state (0: the embeddings) pooled cls/mean/max, with and without L2 normalisation (dashed), "
        "probed with the 5-fold cross-validated logistic regression; the curves show test accuracy. The "
        "recommendation (grey line) reads the training data's CV only. The 2 cores were shared with other jobs: "
        "throughput figures are ratios of files timed in alternation.",
    ]
    for path in sorted(RESULTS.glob("layers_*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if not isinstance(record, dict) or "rows" not in record:
            continue
        model, rows = record["model"], record["rows"]
        parts += ["", _markdown(model, rows, record["note"], heading="###")]
        if record.get("host"):
            parts += ["", host_line(record["host"])]
        if record.get("command"):
            parts += ["", f"Reproduce: `{record['command']}`"]
        pictures = [f"![{model} {r['dataset']}](../benchmarks/results/layers_{model}_{r['dataset']}.png)" for r in rows]
        parts += ["", " ".join(pictures)]
    return "\n".join(parts)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="encoder (default: minilm)")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--max-train", type=int, default=None, help="seeded sample of at most N training rows")
    parser.add_argument("--export", action="store_true", help="also train+export the recommended and last layer")
    parser.add_argument("--doc-only", action="store_true", help="regenerate the docs section from the results only")
    args = parser.parse_args(argv)
    if args.doc_only:
        write_section(DOC, SECTION, _section())
        print(f"wrote the {SECTION} section of {DOC}")
        return 0

    import json
    import sys

    from probe_train.embedding_cache import EmbeddingCache
    from probe_train.encoder import load_encoder
    from probe_train.layers import plot_sweep, sweep_layers

    encoder = load_encoder(args.model)
    tag = Path(args.model).name if args.model else "minilm"
    out = RESULTS / f"layers_{tag}.json"
    rows = []
    for name in args.datasets.split(","):
        train, test, full = train_test(name, args.max_train)
        sweep = sweep_layers(encoder, train, test, cache=EmbeddingCache())
        plot_sweep(sweep, RESULTS / f"layers_{tag}_{name}.png")
        row: dict[str, Any] = {"dataset": name, "n_train_full": full, "sweep": sweep.to_json_dict()}
        r = sweep.recommended
        print(f"{name}: recommended layer {r.layer} {r.name}, CV {100 * r.cv_accuracy:.2f}", flush=True)
        if args.export and r.layer < sweep.n_layers:
            row["export"] = _export_pair(
                name,
                _train_file(name, train, full),
                dataset_file(name, "test"),
                args.model,
                r.layer,
                r.pooling,
                r.normalize,
            )
            print(f"{name}: {row['export']['speedup']:.2f}x the last layer's throughput", flush=True)
        rows.append(row)
        if out.is_file():  # datasets measured by an earlier run (and not this one) stay in the results
            done = {r["dataset"] for r in rows}
            kept = [r for r in json.loads(out.read_text(encoding="utf-8"))["rows"] if r["dataset"] not in done]
            rows = sorted(kept + rows, key=lambda r: DATASETS.index(r["dataset"]) if r["dataset"] in DATASETS else 99)
        sampled = [
            f"{r['dataset']} ({r['sweep']['n_train']} of {r['n_train_full']})"
            for r in rows
            if r["sweep"]["n_train"] < r["n_train_full"]
        ]
        note = (
            "Recommendation: the earliest layer within 0.5 points of the best 5-fold CV accuracy on the training "
            "data; test accuracy on each test split. "
            + (f"Seeded training samples (seed 0): {', '.join(sampled)}." if sampled else "Full training sets.")
        )
        command = "python -m benchmarks.layer_report " + " ".join(sys.argv[1:] if argv is None else argv)
        write_results(out, {"model": tag, "rows": rows, "note": note, "command": command}, _markdown(tag, rows, note))
        write_section(DOC, SECTION, _section())  # after each dataset: an interrupted run keeps what it measured
    print(f"wrote {out}, {out.with_suffix('.md')} and the {SECTION} section of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
