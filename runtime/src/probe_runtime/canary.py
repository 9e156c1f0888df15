"""A file that checks itself where it runs: canary texts with the probabilities the exporting machine gave them.

int8 results can depend on the CPU (``probe_runtime.cpu``): an artifact verified on one machine is only known to
answer the same on another if it is asked. `probe export` runs 24 of the runtime's public sample texts through
the shipped graph and stores their probabilities with the exporting CPU's name (``Manifest.canaries``);
`Classifier.load` runs the same texts the same way and refuses the file, in one line naming both CPUs and the
difference, when this machine answers them differently. The canaries are the 24 shortest sample texts (4-7 words):
short texts cost least at load (MiniLM int8 on a busy 2-core AMD EPYC, AVX-512 VNNI: ~35 ms, measured as
`probe-runtime bench`'s load_s with and without --no-self-check; much of it the session's first run, which the
first call would otherwise pay) and give a lone rounding flip the fewest chances.

"Differently" is a count, not a maximum, because of what is left once the integers are exact (the current
exporter's int8 gives the same integers on every x86 kernel, ``probe_export.exactness``): onnxruntime's fp32
kernels (attention, LayerNorm, the int8 matmuls' float epilogue) are not bit-identical across instruction sets,
and now and then a last-bit difference lands on a rounding boundary of the next per-token quantization, moving
one activation by one step. Measured with MiniLM on an emulated AVX2 CPU against AVX-512 VNNI: the shipped files
of the four shared datasets moved none of their 24 canaries, the prompt-injection file 1 of 235 sample texts (by
0.014, no label changed); the 8-bit-weight files that saturate moved 20 and 24 of 24 canaries (prompt injections,
SST-2; `python -m benchmarks.cross_cpu --eight-bit`). So a file passes while at most `CANARY_MAX_MOVED` of its
canaries move beyond `CANARY_TOLERANCE`: lone rounding flips pass (a false refusal needs three among 24 short
texts, ~1e-5 at the measured rate), a systematic difference is refused.
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
    "CANARY_MAX_MOVED",
    "CANARY_TOLERANCE",
    "CanaryCheck",
    "CpuMismatchError",
    "canary_texts",
    "check_canaries",
    "mismatch_error",
    "record_canaries",
]

CANARY_COUNT = 24
# The same answer: alone-vs-batched differences of a batch-independent file stay below it (`probe_export.precision`)
CANARY_TOLERANCE = 1e-4
CANARY_MAX_MOVED = 2  # canaries that may move beyond the tolerance (lone rounding flips; module docstring)

Proba = Callable[[list[str]], np.ndarray]


@dataclass(frozen=True)
class CanaryCheck:
    """The canaries run here against the exporter's answers."""

    exported_on: str
    running_on: str
    texts: int
    moved: int  # canaries whose probabilities moved by more than ``tolerance``
    max_abs_diff: float
    labels_changed: int
    tolerance: float
    max_moved: int

    @property
    def passed(self) -> bool:
        return self.moved <= self.max_moved

    def describe(self) -> str:
        """One line for `probe-runtime info`."""
        verdict = "passed" if self.passed else "FAILED"
        changed = f", {self.labels_changed} label(s) changed" if self.labels_changed else ""
        return (
            f"{verdict}: {self.moved} of {self.texts} canary texts moved more than {self.tolerance:g} from the "
            f"exporting machine's answers (at most {self.max_moved} may; max |Δp| {self.max_abs_diff:.1e}{changed})"
        )


def canary_texts(count: int = CANARY_COUNT) -> list[str]:
    """The ``count`` shortest texts of the built-in sample (ties by text): questions, short reviews, chat."""
    return sorted(sample_texts(), key=lambda text: (len(text), text))[:count]


def record_canaries(proba: Proba, onnxruntime_version: str, texts: Sequence[str] | None = None) -> Canaries:
    """The exporter's side: the shipped graph's probabilities (``proba``) on the canary texts, on this CPU."""
    chosen = list(texts) if texts is not None else canary_texts()
    rows = np.asarray(proba(chosen), dtype=np.float64)
    return Canaries(
        texts=tuple(chosen),
        probabilities=tuple(tuple(float(p) for p in row) for row in rows),
        cpu=cpu_name(),
        tolerance=CANARY_TOLERANCE,
        max_moved=CANARY_MAX_MOVED,
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
    moved = np.abs(got - expected).max(axis=1)
    return CanaryCheck(
        exported_on=canaries.cpu,
        running_on=cpu_name(),
        texts=len(canaries.texts),
        moved=int((moved > canaries.tolerance).sum()),
        max_abs_diff=float(moved.max()),
        labels_changed=int((got.argmax(1) != expected.argmax(1)).sum()),
        tolerance=canaries.tolerance,
        max_moved=canaries.max_moved,
    )


def mismatch_error(check: CanaryCheck, source: str) -> CpuMismatchError:
    """The one-line refusal: both CPUs, the difference, and the two ways forward."""
    changed = f", {check.labels_changed} of them with another label" if check.labels_changed else ""
    return CpuMismatchError(
        f"{source}: this machine moves {check.moved} of the file's {check.texts} canary texts more than "
        f"{check.tolerance:g} (up to {check.max_abs_diff:.2g}) from the probabilities verified at export{changed}; "
        f"at most {check.max_moved} may move (a lone rounding difference): exported on "
        f"{check.exported_on}, running on {check.running_on}. Re-export the model with a current `probe export` "
        "(its int8 gives the same integers on every CPU), or load it anyway with self_check=False "
        "(CLI: --no-self-check)."
    )
