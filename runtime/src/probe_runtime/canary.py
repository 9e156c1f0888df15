"""A file that checks itself where it runs: canary texts with the probabilities the exporting machine gave them.

int8 results can depend on the CPU (``probe_runtime.cpu``): an artifact verified on one machine is only known to
answer the same on another if it is asked. `probe export` runs a few of the runtime's public sample texts through
the shipped graph and stores their probabilities with the exporting CPU's name (``Manifest.canaries``);
`Classifier.load` runs the same texts the same way (a few milliseconds) and refuses the file, in one line naming
both CPUs and the difference, when any probability moved by more than the recorded tolerance. The current
exporter's int8 is exact on every x86 kernel (``probe_export.exactness``), so only fp32 rounding (~1e-6) is left
to differ; the check is there for files that are not, and for whatever a future CPU or onnxruntime does.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np

from .cpu import cpu_name
from .errors import ArtifactError, CpuMismatchError
from .records import Canaries
from .samples import sample_texts

__all__ = [
    "CANARY_COUNT",
    "CANARY_TOLERANCE",
    "CanaryCheck",
    "CpuMismatchError",
    "canary_texts",
    "check_canaries",
    "mismatch_error",
    "record_canaries",
]

CANARY_COUNT = 16  # one short batch: measured ~4 ms for MiniLM int8 on one core
# The same answer: alone-vs-batched differences of a batch-independent file stay below it (`probe_export.precision`)
CANARY_TOLERANCE = 1e-4

Proba = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CanaryCheck:
    """The canaries run here against the exporter's answers."""

    exported_on: str
    running_on: str
    texts: int
    max_abs_diff: float
    labels_changed: int
    tolerance: float

    @property
    def passed(self) -> bool:
        return self.max_abs_diff <= self.tolerance and not self.labels_changed

    def describe(self) -> str:
        """One line for `probe-runtime info`."""
        verdict = "passed" if self.passed else "FAILED"
        changed = f", {self.labels_changed} label(s) changed" if self.labels_changed else ""
        return (
            f"{verdict}: {self.texts} canary texts, max |Δp| {self.max_abs_diff:.1e} against the exporting machine's "
            f"answers (tolerance {self.tolerance:g}{changed})"
        )


def canary_texts(count: int = CANARY_COUNT) -> list[str]:
    """``count`` texts spread over the built-in sample (reviews, questions, chat, injection attempts…)."""
    sample = sample_texts()
    step = max(1, len(sample) // count)
    return sample[::step][:count]


def record_canaries(proba: Proba, onnxruntime_version: str, texts: Sequence[str] | None = None) -> Canaries:
    """The exporter's side: the shipped graph's probabilities (``proba``) on the canary texts, on this CPU."""
    chosen = list(texts) if texts is not None else canary_texts()
    rows = np.asarray(proba(chosen), dtype=np.float64)
    return Canaries(
        texts=tuple(chosen),
        probabilities=tuple(tuple(float(p) for p in row) for row in rows),
        cpu=cpu_name(),
        tolerance=CANARY_TOLERANCE,
        onnxruntime=onnxruntime_version,
    )


def check_canaries(canaries: Canaries, proba: Proba, source: str = "the model") -> CanaryCheck:
    """Run the canaries here (``proba``: the loaded classifier's ``predict_proba``) against the recorded answers;
    ``ArtifactError`` naming ``source`` when the recorded rows do not even have the graph's width."""
    expected = np.asarray(canaries.probabilities, dtype=np.float64)
    got = np.asarray(proba(list(canaries.texts)), dtype=np.float64)
    if got.shape != expected.shape:
        raise ArtifactError(
            f"{source}: manifest field 'canaries.probabilities' holds {expected.shape[1]} probabilities per text but "
            f"the graph answers {got.shape[1]}; re-export the model with `probe export`."
        )
    return CanaryCheck(
        exported_on=canaries.cpu,
        running_on=cpu_name(),
        texts=len(canaries.texts),
        max_abs_diff=float(np.abs(got - expected).max()),
        labels_changed=int((got.argmax(1) != expected.argmax(1)).sum()),
        tolerance=canaries.tolerance,
    )


def mismatch_error(check: CanaryCheck, source: str) -> CpuMismatchError:
    """The one-line refusal: both CPUs, the difference, and the two ways forward."""
    changed = f", {check.labels_changed} of them with another label" if check.labels_changed else ""
    return CpuMismatchError(
        f"{source}: this machine answers the file's {check.texts} canary texts up to {check.max_abs_diff:.2g} away "
        f"from the probabilities verified at export{changed} (tolerance {check.tolerance:g}): exported on "
        f"{check.exported_on}, running on {check.running_on}. Re-export the model with a current `probe export` "
        "(its int8 gives the same integers on every CPU), or load it anyway with self_check=False "
        "(CLI: --no-self-check)."
    )
