"""The benchmark text sets: the same texts, in the same order, for every contender.

``sst2``: the first SST-2 train phrases (short, mean ~13 MiniLM tokens). ``tweets``: the first
TweetEval-offensive train tweets (longer, mean ~30 tokens). ``PATH``: any text file, one text per line.
"""

from __future__ import annotations

from pathlib import Path

from benchmarks.common.paths import dataset_file
from benchmarks.data import labelled

__all__ = ["SETS", "load_texts"]

SETS = {"sst2": "sst2", "tweets": "tweeteval_offensive"}  # set name -> dataset (its train.csv)


def load_texts(name: str, n: int) -> list[str]:
    """The first ``n`` non-empty texts of a named set (or of a one-text-per-line file)."""
    if name in SETS:
        texts = [text.strip() for text in labelled.texts(dataset_file(SETS[name], "train"))]
    else:
        texts = [line.strip() for line in Path(name).read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if t]
    if len(texts) < n:
        raise SystemExit(f"{name} has only {len(texts)} texts, {n} requested")
    return texts[:n]
