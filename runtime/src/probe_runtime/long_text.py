"""Texts longer than the model's window: truncate them, or slide overlapping windows and aggregate.

Truncation (the default) keeps the first ``max_length`` tokens: right for short-text tasks, and what
the probe saw in training. Windowing splits a long text into overlapping ``max_length`` windows
(``tokenizers``' own overflow with ``stride`` = tokens of overlap), classifies every window, and
folds the window probabilities back into one row per text:

- ``mean``: the average of the window distributions. Right when the label describes the whole text
  (topic, sentiment): every part counts equally.
- ``max``: the whole distribution of the window that is *least* the background class (e.g. ``0``,
  ``ham``, ``benign``). Right for detection (injection, spam, abuse): one bad paragraph in a long
  benign document is a positive, and averaging would dilute it. We take one window's distribution
  rather than a per-class max (which, renormalised, pulls every binary answer towards 0.5).

The policy is chosen at export (``probe export --long-text``), stored in the artifact, and can be
overridden per run (``Classifier.load(..., long_text=...)``, ``probe-runtime classify --long-text``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from tokenizers import Encoding, Tokenizer

from .artifact import Label, LongTextPolicy, Manifest, WindowAggregate
from .errors import InputError

__all__ = [
    "LongText",
    "Windower",
    "auto_aggregate",
    "background_label",
    "default_stride",
    "resolve_long_text",
]

# Label names that mean "nothing found": their presence in a binary label set marks a detection task.
_ABSENCE_NAMES = {"0", "false", "no", "none", "benign", "ham", "safe", "clean", "normal", "legit", "legitimate", "ok"}
_ABSENCE_PREFIXES = ("not", "non")


@dataclass(frozen=True)
class LongText:
    """The effective long-text settings of a classifier (``stride`` = tokens shared by neighbouring windows)."""

    policy: str = LongTextPolicy.TRUNCATE.value
    stride: int = 0
    aggregate: str = WindowAggregate.MEAN.value
    background: Label | None = None

    def describe(self) -> str:
        if self.policy == LongTextPolicy.TRUNCATE.value:
            return "truncate"
        extra = f", background {self.background!r}" if self.aggregate == WindowAggregate.MAX.value else ""
        return f"window (overlap {self.stride} tokens, {self.aggregate}{extra})"


def _is_absence(label: Label) -> bool:
    name = str(label).strip().lower()
    return name in _ABSENCE_NAMES or name.replace("-", "_").replace(" ", "_").split("_")[0] in _ABSENCE_PREFIXES


def background_label(labels: Sequence[Label]) -> Label | None:
    """The one label that reads as "nothing detected" (``0``, ``ham``, ``benign``, ``not_offensive``…), if any."""
    found = [label for label in labels if _is_absence(label)]
    return found[0] if len(found) == 1 else None


def auto_aggregate(labels: Sequence[Label]) -> str:
    """``max`` for binary tasks with a recognisable background label (detection), else ``mean``.

    Binary 0/1 labels count as detection (1 = found), which is the common convention but also how
    SST-2 writes sentiment: export such models with ``--window-aggregate mean``.
    """
    if len(labels) == 2 and background_label(labels) is not None:
        return WindowAggregate.MAX.value
    return WindowAggregate.MEAN.value


def default_stride(max_length: int) -> int:
    """A quarter of the window overlaps its neighbour, so a phrase cut by one edge is whole in the next."""
    return max(1, max_length // 4)


def resolve_long_text(
    manifest: Manifest,
    policy: str | None = None,
    stride: int | None = None,
    aggregate: str | None = None,
) -> LongText:
    """Per-call choices over the artifact's (``None`` = use the artifact's; stride 0 in an artifact = default)."""
    policy = policy or manifest.long_text
    try:
        policy = LongTextPolicy(policy).value
    except ValueError:
        raise InputError(f"long_text must be 'truncate' or 'window', not {policy!r}") from None
    if stride is None:
        stride = manifest.window_stride or default_stride(manifest.max_length)
    aggregate = aggregate or manifest.window_aggregate
    try:
        aggregate = WindowAggregate(aggregate).value
    except ValueError:
        raise InputError(f"window aggregate must be 'max', 'mean' or 'auto', not {aggregate!r}") from None
    if aggregate == WindowAggregate.AUTO.value:
        aggregate = auto_aggregate(manifest.labels)
    background = None
    if aggregate == WindowAggregate.MAX.value:
        found = background_label(manifest.labels)
        background = manifest.labels[0] if found is None else found
    return LongText(policy, stride, aggregate, background)


class Windower:
    """Splits texts into overlapping token windows and folds window probabilities back per text."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, labels: Sequence[Label], settings: LongText):
        # A private copy: the classifier's own tokenizer keeps plain truncation.
        self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
        self.tokenizer.no_padding()
        specials = len(self.tokenizer.encode("", add_special_tokens=True).ids)
        room = max_length - specials
        if not 0 <= settings.stride < room:
            raise InputError(
                f"window overlap must be between 0 and {room - 1} tokens for max_length {max_length}, "
                f"got {settings.stride}; pick a smaller --window-stride"
            )
        self.tokenizer.enable_truncation(max_length, stride=settings.stride)
        self.settings = settings
        self.background_index = (
            list(labels).index(settings.background) if settings.aggregate == WindowAggregate.MAX.value else None
        )

    def encode(self, texts: Sequence[str]) -> tuple[list[Encoding], np.ndarray]:
        """Every window of every text, and for each window the index of its text."""
        windows: list[Encoding] = []
        owners: list[int] = []
        for index, encoding in enumerate(self.tokenizer.encode_batch(list(texts), add_special_tokens=True)):
            windows.append(encoding)
            windows.extend(encoding.overflowing)
            owners.extend([index] * (1 + len(encoding.overflowing)))
        return windows, np.asarray(owners, dtype=np.int64)

    def aggregate(self, proba: np.ndarray, owners: np.ndarray, n_texts: int) -> np.ndarray:
        """One probability row per text from the rows of its windows."""
        if self.background_index is None:
            sums = np.zeros((n_texts, proba.shape[1]), dtype=np.float64)
            np.add.at(sums, owners, proba)
            return (sums / np.bincount(owners, minlength=n_texts)[:, None]).astype(np.float32)
        # Per text, the window with the lowest background probability (ties: the earliest window).
        order = np.lexsort((proba[:, self.background_index], owners))
        firsts = order[np.r_[0, np.flatnonzero(np.diff(owners[order])) + 1]]
        return proba[firsts]

    def predict_proba(self, texts: Sequence[str], run: Callable[[Sequence[Encoding]], np.ndarray]) -> np.ndarray:
        """``run`` turns encodings into probabilities (the classifier's own batched session call)."""
        windows, owners = self.encode(texts)
        return self.aggregate(run(windows), owners, len(texts))
