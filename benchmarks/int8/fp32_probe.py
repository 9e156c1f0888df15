"""A MiniLM (or any encoder's) probe trained with the real CLI and exported as fp32: the common start of the
int8 studies, which build their candidate graphs from that one fp32 file (reused when present)."""

from __future__ import annotations

import contextlib
import io
from pathlib import Path

from probe_export.cli import main as probe

from benchmarks.common.paths import dataset_file
from benchmarks.data.labelled import subsample

__all__ = ["train_fp32"]


def _quiet(argv: list[str]) -> int:
    with contextlib.redirect_stdout(io.StringIO()):
        return probe(argv)


def train_fp32(dataset: str, max_train: int | None, model: str | None, work: Path) -> tuple[Path, Path]:
    """Train the probe with the CLI and export its fp32 file (both reused when present); returns (fp32 file,
    the training CSV used: a seeded ``max_train``-row subset when given)."""
    work.mkdir(parents=True, exist_ok=True)
    train_csv = dataset_file(dataset, "train")
    if max_train:
        train_csv = subsample(train_csv, work / "train-subset.csv", max_train)
    if not (work / "probe" / "report.json").is_file():
        argv = ["train", str(train_csv), "--test", str(dataset_file(dataset, "test")), "--out", str(work / "probe")]
        if _quiet(argv + (["--model", model] if model else [])) != 0:
            raise SystemExit(f"training failed on {dataset}")
    fp32 = work / "fp32.onnx"
    if not fp32.is_file() and _quiet(["export", str(work / "probe"), "--out", str(fp32), "--quantize", "none"]) != 0:
        raise SystemExit(f"the fp32 export failed on {dataset}")
    return fp32, train_csv
