"""Where the benchmarks and studies find the repository, their data and their scratch space: one place.

The evaluation datasets (``<name>/train.csv``, ``<name>/test.csv``) are not all shipped with the
repository, so the data root is looked up in this order: ``$PROBE_DATA`` if set, else ``../shared/data``
next to the repository (the layout of the development machines), else the repository's own ``data/``
(which ships ``prompt_injections``).
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_ENV", "REPO", "WORK", "data_root", "dataset_file"]

REPO = Path(__file__).resolve().parents[2]
WORK = REPO / "benchmarks" / ".work"  # trained probes and exported files (git-ignored)
DATA_ENV = "PROBE_DATA"


def data_root() -> Path:
    """The folder holding one sub-folder per dataset (see the module docstring for the order)."""
    if os.environ.get(DATA_ENV):
        return Path(os.environ[DATA_ENV])
    shared = REPO.parent / "shared" / "data"
    return shared if shared.is_dir() else REPO / "data"


def dataset_file(dataset: str, split: str = "train") -> Path:
    """``<data root>/<dataset>/<split>.csv``; a missing file ends the run with one line naming the variable."""
    path = data_root() / dataset / f"{split}.csv"
    if not path.is_file():
        raise SystemExit(f"{path} not found: set {DATA_ENV} to the folder holding {dataset}/{split}.csv")
    return path
