"""A shared dataset's train and test splits as the training library reads them, the train split optionally
cut to a seeded sample: the one way the in-process benchmarks (probe fit speed, the layer report) load data.
(The CLI-driven reports write a subset file instead: `benchmarks.data.labelled.subsample`.)"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from benchmarks.common.paths import dataset_file

if TYPE_CHECKING:
    from probe_train.data import Dataset


def train_test(name: str, max_train: int | None = None) -> tuple[Dataset, Dataset, int]:
    """(train, test, rows in the full train split); test labels aligned with train's. A train split above
    ``max_train`` rows becomes a seeded sample of that many (seed 0, so runs agree)."""
    from probe_train.data import align_labels, load_dataset

    train = load_dataset(str(dataset_file(name, "train")))
    test = align_labels(load_dataset(str(dataset_file(name, "test")), "text", "label", 1), train.labels)
    full = len(train)
    if max_train and full > max_train:
        keep = np.sort(np.random.default_rng(0).choice(full, max_train, replace=False))
        train = train.subset(keep, f"{train.source} (seeded sample of {max_train})")
    return train, test, full
