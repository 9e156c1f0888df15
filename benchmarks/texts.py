"""The benchmark text sets: the same texts, in the same order, for every contender.

``sst2``: the first SST-2 train phrases (short, mean ~13 MiniLM tokens). ``tweets``: the first
TweetEval-offensive train tweets (longer, mean ~30 tokens). ``PATH``: any text file, one text per line.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

__all__ = ["DATA_ROOT", "SETS", "load_texts"]

DATA_ROOT = Path(os.environ.get("PROBE_BENCH_DATA", "/work/shared/data"))
SETS = {"sst2": "sst2/train.csv", "tweets": "tweeteval_offensive/train.csv"}


def load_texts(name: str, n: int) -> list[str]:
    """The first ``n`` non-empty texts of a named set (or of a one-text-per-line file)."""
    if name in SETS:
        path = DATA_ROOT / SETS[name]
        if not path.is_file():
            raise SystemExit(f"{path} not found: set PROBE_BENCH_DATA to the folder holding {SETS[name]}")
        with open(path, newline="", encoding="utf-8") as f:
            texts = [row["text"].strip() for row in csv.DictReader(f)]
    else:
        texts = [line.strip() for line in Path(name).read_text(encoding="utf-8").splitlines()]
    texts = [t for t in texts if t]
    if len(texts) < n:
        raise SystemExit(f"{name} has only {len(texts)} texts, {n} requested")
    return texts[:n]
