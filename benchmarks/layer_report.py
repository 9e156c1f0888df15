"""Per-layer probe curves for the shared datasets, and what the recommended layer buys at export.

    python -m benchmarks.layer_report [--model minilm|DIR] [--datasets a,b] [--max-train N] [--export]

For each dataset: `probe_train.layers.sweep_layers` (every layer x cls/mean/max x with/without L2, the
recommendation from cross-validation on the training data, test accuracy shown), a plot per dataset,
and with ``--export`` the recommended layer and the last layer each trained (`probe train`) and
exported (`probe export`, default precision) so the file size and the throughput over the test texts
(`Classifier.predict_proba`, 2 threads) stand side by side. MPNet: prepare it with
``python -m benchmarks.prepare_mpnet`` and pass ``--model benchmarks/.work/all-mpnet-base-v2``.
Results: benchmarks/results/layers_<model>.{json,md} and layers_<model>_<dataset>.png.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import Any

from benchmarks.paths import REPO, WORK, dataset_file
from benchmarks.record import write_results
from benchmarks.splits import train_test

DATASETS = ("prompt_injections", "sms_spam", "tweeteval_offensive", "sst2")
RESULTS = REPO / "benchmarks" / "results"


def _export_pair(name: str, data: Path, test: Path, model: str | None, layer: int, pooling: str, l2: bool) -> dict:
    """Train and export at ``layer`` and at the last layer: size, throughput and accuracy of each file."""
    from probe_export.cli import main as probe
    from probe_runtime import Classifier
    from probe_train.data import load_dataset

    texts = load_dataset(str(test), "text", "label", 1).texts
    out: dict[str, Any] = {}
    for tag, at in (("recommended", layer), ("last", -1)):
        root = WORK / "layers" / f"{name}-{tag}"
        args = ["train", str(data), "--test", str(test), "--out", str(root), "--overwrite", "--layer", str(at)]
        args += ["--pooling", pooling, "--normalize" if l2 else "--no-normalize"]
        if model:
            args += ["--model", model]
        assert probe(args) == 0
        artifact = root.with_suffix(".onnx")
        assert probe(["export", str(root), "--out", str(artifact), "--overwrite"]) == 0
        clf = Classifier.load(artifact, threads=2)
        clf.predict_proba(texts[:64])  # warm-up
        started = time.perf_counter()
        clf.predict_proba(texts)
        seconds = time.perf_counter() - started
        m = clf.manifest
        out[tag] = {
            "layer": at,
            "encoder_layers": m.encoder_layers,
            "quantization": str(m.quantization),
            "mb": artifact.stat().st_size / 1e6,
            "texts_per_second": len(texts) / seconds,
            "accuracy": m.verification.int8.accuracy if m.verification.int8 else m.verification.fp32.accuracy,
        }
    out["speedup"] = out["recommended"]["texts_per_second"] / out["last"]["texts_per_second"]
    return out


def _markdown(model: str, rows: list[dict[str, Any]], note: str) -> str:
    lines = [f"# Layer sweep: {model}", "", note, ""]
    lines += [
        "| dataset | train rows | best (CV %) | recommended (CV % ± std, test %) | last layer test % (mean) |",
        "|---|---:|---|---|---:|",
    ]
    for r in rows:
        s, b, rec = r["sweep"], r["sweep"]["best"], r["sweep"]["recommended"]
        last = next(
            x for x in s["scores"] if x["layer"] == s["n_layers"] and x["pooling"] == "mean" and not x["normalize"]
        )
        lines.append(
            f"| {r['dataset']} | {s['n_train']} | layer {b['layer']} {b['pooling']}{'+l2' * b['normalize']} "
            f"({100 * b['cv_accuracy']:.2f}) | layer {rec['layer']} {rec['pooling']}{'+l2' * rec['normalize']} "
            f"({100 * rec['cv_accuracy']:.2f} ± {100 * rec['cv_spread']:.2f}, {100 * (rec['accuracy'] or 0):.2f}) | "
            f"{100 * (last['accuracy'] or 0):.2f} |"
        )
    exports = [r for r in rows if "export" in r]
    if exports:
        lines += [
            "",
            "| dataset | file | layers in graph | MB | texts/s | accuracy % |",
            "|---|---|---:|---:|---:|---:|",
        ]
        for r in exports:
            for tag in ("recommended", "last"):
                e = r["export"][tag]
                lines.append(
                    f"| {r['dataset']} | {tag} ({e['quantization']}) | {e['encoder_layers']} | {e['mb']:.1f} | "
                    f"{e['texts_per_second']:.0f} | {100 * (e['accuracy'] or 0):.2f} |"
                )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="encoder (default: minilm)")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--max-train", type=int, default=None, help="seeded sample of at most N training rows")
    parser.add_argument("--export", action="store_true", help="also train+export the recommended and last layer")
    args = parser.parse_args(argv)

    from probe_train.embedding_cache import EmbeddingCache
    from probe_train.encoder import load_encoder
    from probe_train.layers import plot_sweep, sweep_layers

    encoder = load_encoder(args.model)
    tag = Path(args.model).name if args.model else "minilm"
    rows = []
    for name in args.datasets.split(","):
        train, test, full = train_test(name, args.max_train)
        sweep = sweep_layers(encoder, train, test, cache=EmbeddingCache())
        plot_sweep(sweep, RESULTS / f"layers_{tag}_{name}.png")
        row: dict[str, Any] = {"dataset": name, "n_train_full": full, "sweep": sweep.to_json_dict()}
        r = sweep.recommended
        print(f"{name}: recommended layer {r.layer} {r.name}, CV {100 * r.cv_accuracy:.2f}", flush=True)
        if args.export and r.layer < sweep.n_layers and len(train) == full:
            row["export"] = _export_pair(
                name,
                dataset_file(name, "train"),
                dataset_file(name, "test"),
                args.model,
                r.layer,
                r.pooling,
                r.normalize,
            )
        rows.append(row)
    sampled = [
        f"{r['dataset']} ({r['sweep']['n_train']} of {r['n_train_full']})"
        for r in rows
        if r["sweep"]["n_train"] < r["n_train_full"]
    ]
    note = (
        "Recommendation: the earliest layer within 0.5 points of the best 5-fold CV accuracy on the training data; "
        "test accuracy on each test split. "
        + (f"Seeded training samples: {', '.join(sampled)}." if sampled else "Full training sets.")
    )
    out = RESULTS / f"layers_{tag}.json"
    write_results(out, {"model": tag, "rows": rows, "note": note}, _markdown(tag, rows, note))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
