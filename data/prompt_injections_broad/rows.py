"""What the build reads and writes: pinned input files, sources, rows and the built splits.

Its own module so that the readers (`sources`, `families`), the assembly (`build`) and the README writer
(`readme`) all depend on it and never on each other in a circle.
"""

from __future__ import annotations

import csv
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

__all__ = ["Blob", "Built", "Row", "Source", "Split", "blob", "read_csv"]


@dataclass(frozen=True)
class Blob:
    """One input file: where it lives, exactly."""

    repo: str
    commit: str
    path: str

    def read(self, mirrors: Path) -> str:
        git_dir = mirrors / self.repo.replace("/", "+") / "repo"
        return subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{self.commit}:{self.path}"],
            check=True,
            capture_output=True,
        ).stdout.decode("utf-8")


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    commit: str
    licence: str


def blob(source: Source, path: str) -> Blob:
    return Blob(source.repo, source.commit, path)


@dataclass
class Row:
    text: str
    label: int
    source: str
    # NotInject's own trigger words for the row, and whether one of them is also a trigger word of a NotInject
    # row in training (held-out rows only; the report's "unseen trigger words" slice reads it).
    trigger_words: tuple[str, ...] = ()
    words_trained: bool = False
    # The attack family of an injection (README "Attack families"); "" for benign rows and mixed sources.
    family: str = ""
    # Where the instruction sits in a long document (test_long_documents.csv only): start, middle, end or "".
    position: str = ""


Split = list[Row]


def read_csv(path: Path, source: str) -> Split:
    with path.open(encoding="utf-8", newline="") as f:
        return [Row(r["text"], int(r["label"]), source) for r in csv.DictReader(f)]


@dataclass
class Built:
    train: Split
    evals: dict[str, Split]  # file stem -> rows (deepset's test is read, never rewritten)
    removed: Counter[str]
    relabelled: Counter[str] = field(default_factory=Counter)  # "<source> <split>" -> benign rows relabelled 1
