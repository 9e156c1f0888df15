"""Exact and near-duplicate detection between a training pool and the evaluation splits.

Why two levels: the same prompt is often copied between public collections with different spacing,
case or Unicode forms (exact after normalisation), and jailbreak templates circulate with a few words
changed (near duplicates). Either kind left in training would inflate every figure we report.

Near duplicates are pairs whose character 5-gram sets have Jaccard similarity >= ``threshold``
(default 0.8). Candidates come from MinHash LSH (the ``datasketch`` library, 128 permutations), and
every candidate is then confirmed with the exact Jaccard of the two 5-gram sets, so nothing is dropped
on an estimate; LSH can miss a pair just above the threshold (it is probabilistic), never invent one.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Sequence

SHINGLE = 5
THRESHOLD = 0.8
PERMUTATIONS = 128

_SPACE = re.compile(r"\s+")


def normalise(text: str) -> str:
    """The form texts are compared in: NFKC, case-folded, whitespace collapsed, trimmed."""
    return _SPACE.sub(" ", unicodedata.normalize("NFKC", text).casefold()).strip()


def shingles(text: str, size: int = SHINGLE) -> set[str]:
    """Character ``size``-grams of the normalised text (the whole text when it is shorter)."""
    norm = normalise(text)
    if len(norm) <= size:
        return {norm}
    return {norm[i : i + size] for i in range(len(norm) - size + 1)}


def jaccard(a: set[str], b: set[str]) -> float:
    """|a ∩ b| / |a ∪ b| (1.0 for two empty sets)."""
    union = len(a | b)
    return len(a & b) / union if union else 1.0


class ReferenceIndex:
    """The evaluation texts, indexed so a candidate training text can be checked against all of them."""

    def __init__(self, texts: Iterable[str], threshold: float = THRESHOLD) -> None:
        from datasketch import MinHash, MinHashLSH  # optional: only the build and its tests need it

        self._minhash = MinHash
        self.threshold = threshold
        self._lsh = MinHashLSH(threshold=threshold, num_perm=PERMUTATIONS)
        self._exact: set[str] = set()
        self._shingles: dict[str, set[str]] = {}
        for key, text in enumerate(texts):
            norm = normalise(text)
            if norm in self._exact:
                continue
            self._exact.add(norm)
            grams = shingles(text)
            self._shingles[str(key)] = grams
            self._lsh.insert(str(key), self._signature(grams))

    def _signature(self, grams: set[str]):  # noqa: ANN202 (datasketch is untyped)
        signature = self._minhash(num_perm=PERMUTATIONS, seed=1)
        signature.update_batch([g.encode("utf-8") for g in grams])
        return signature

    def match(self, text: str) -> str | None:
        """``"exact"``, ``"near"`` or None: how ``text`` duplicates some indexed evaluation text."""
        if normalise(text) in self._exact:
            return "exact"
        grams = shingles(text)
        for key in self._lsh.query(self._signature(grams)):
            if jaccard(grams, self._shingles[key]) >= self.threshold:
                return "near"
        return None


def unique_exact(texts: Sequence[str]) -> list[int]:
    """Indices of the first occurrence of every normalised text, in input order."""
    seen: set[str] = set()
    keep = []
    for index, text in enumerate(texts):
        norm = normalise(text)
        if norm not in seen:
            seen.add(norm)
            keep.append(index)
    return keep
