"""What `probe-runtime classify` shows while it runs and when it ends, locally or on Ray: a bar, a summary line."""

from __future__ import annotations

import time
from collections.abc import Sequence

from tqdm import tqdm

from ..artifact import Label
from ..classify_files import Progress, Summary

__all__ = ["ProgressBar", "describe"]


def describe(summary: Summary, labels: Sequence[Label]) -> str:
    """The summary line: rows read = classified + skipped (by reason), and the label distribution (for a
    multi-label file, how many texts got each label, and how many got none)."""
    skipped = sum(summary.skipped.values())
    reasons = ", ".join(f"{reason} {n}" for reason, n in sorted(summary.skipped.items()))
    distribution = ", ".join(f"{label} {summary.labels[label]}" for label in labels)
    text = f"read {summary.read} rows, classified {summary.classified}, skipped {skipped}"
    text += f" ({reasons})" if reasons else ""
    text += f"; labels: {distribution}"
    if summary.multi_label:
        text += f"; {summary.unlabelled} text{'' if summary.unlabelled == 1 else 's'} with no label"
    if summary.resumed_after:
        text += f" (resumed after row {summary.resumed_after})"
    return text


class ProgressBar:
    """A tqdm bar fed by `classify_files`' progress reports: bytes with an ETA when the inputs' size is
    known, rows otherwise; the rows/s of this run (not counting rows a resumed run skipped) beside it."""

    def __init__(self, enabled: bool) -> None:
        self.enabled = enabled
        self._bar: tqdm | None = None
        self._started = 0.0
        self._read_before = 0

    def __call__(self, progress: Progress) -> None:
        if self._bar is None:
            self._bar = self._new(progress)
            self._started, self._read_before = time.perf_counter(), progress.read
            return
        self._bar.update(progress.done - self._bar.n)
        rate = (progress.read - self._read_before) / max(time.perf_counter() - self._started, 1e-9)
        self._bar.set_postfix_str(f"{progress.read} rows, {rate:.0f} rows/s", refresh=False)

    def _new(self, progress: Progress) -> tqdm:
        if progress.total is None:
            return tqdm(desc="classifying", unit=" rows", initial=progress.done, disable=not self.enabled)
        return tqdm(
            desc="classifying",
            total=progress.total,
            initial=progress.done,
            unit="B",
            unit_scale=True,
            unit_divisor=1024,
            disable=not self.enabled,
        )

    def __enter__(self) -> ProgressBar:
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Closed however the run ends, so a message after it starts on a line of its own."""
        if self._bar is not None:
            self._bar.close()
