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
  A multi-label file's probabilities are independent (a sigmoid per label), so there ``max`` is per label: each
  label's highest probability over the windows (an insult in one paragraph, a threat in another: both apply),
  and ``auto`` means ``max``.

The policy is chosen at export (``probe export --long-text``), stored in the artifact, and can be
overridden per run (``Classifier.load(..., long_text=...)``, ``probe-runtime classify --long-text``).

Windows are capped: a text yields at most ``max_windows`` windows (default ``DEFAULT_MAX_WINDOWS``,
``Classifier.load(..., max_windows=N)``), the first ones; the rest of the text is not read. Without a cap
one 10 MB line made 5,700 windows and took minutes. A capped text is reported: its ``Prediction`` has
``truncated=True`` and says how many windows were read (``windows``).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import TypeGuard

import numpy as np
from tokenizers import Encoding, Tokenizer

from .artifact import Label, LongTextPolicy, Manifest, Task, WindowAggregate
from .batching import clip_text
from .errors import UsageError
from .tokenizer_guard import tokenizer_panics

__all__ = [
    "DEFAULT_MAX_WINDOWS",
    "Coverage",
    "LongText",
    "Windower",
    "auto_aggregate",
    "background_label",
    "check_aggregate",
    "check_max_windows",
    "check_policy",
    "check_stride",
    "default_stride",
    "resolve_long_text",
]

# Label names that mean "nothing found": their presence in a binary label set marks a detection task.
_ABSENCE_NAMES = {"0", "false", "no", "none", "benign", "ham", "safe", "clean", "normal", "legit", "legitimate", "ok"}
_ABSENCE_PREFIXES = ("not", "non")
# 64 windows of MiniLM's 128 tokens (a quarter overlap) read ~6,000 tokens, ~20 pages of text, in
# about a second on one core; longer documents are rarely one label's worth of evidence anyway.
DEFAULT_MAX_WINDOWS = 64


@dataclass(frozen=True)
class LongText:
    """The effective long-text settings of a classifier (``stride`` = tokens shared by neighbouring windows)."""

    policy: str = LongTextPolicy.TRUNCATE.value
    stride: int = 0
    aggregate: str = WindowAggregate.MEAN.value
    background: Label | None = None
    max_windows: int = DEFAULT_MAX_WINDOWS
    per_label: bool = False  # multi-label: ``max`` takes each label's own maximum over the windows

    def describe(self) -> str:
        if self.policy == LongTextPolicy.TRUNCATE.value:
            return "truncate"
        extra = ""
        if self.aggregate == WindowAggregate.MAX.value:
            extra = " per label" if self.per_label else f", background {self.background!r}"
        return f"window (overlap {self.stride} tokens, {self.aggregate}{extra}, at most {self.max_windows} windows)"


@dataclass(frozen=True)
class Coverage:
    """How much of each text the model read: windows classified, and whether any tokens were left unread."""

    windows: np.ndarray  # int, per text
    truncated: np.ndarray  # bool, per text


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
    max_windows: int | None = None,
) -> LongText:
    """Per-call choices over the artifact's (``None`` = use the artifact's; stride 0 in an artifact = default).

    A bad value is a ``UsageError`` naming the option.
    """
    policy = check_policy(policy or manifest.long_text)
    stride = check_stride(manifest.window_stride or default_stride(manifest.max_length) if stride is None else stride)
    max_windows = check_max_windows(DEFAULT_MAX_WINDOWS if max_windows is None else max_windows)
    aggregate = check_aggregate(aggregate or manifest.window_aggregate)
    if manifest.task is Task.MULTI_LABEL:  # independent labels: no background class, the maximum per label
        aggregate = WindowAggregate.MAX.value if aggregate == WindowAggregate.AUTO.value else aggregate
        return LongText(policy, stride, aggregate, None, max_windows, per_label=True)
    if aggregate == WindowAggregate.AUTO.value:
        aggregate = auto_aggregate(manifest.labels)
    background = None
    if aggregate == WindowAggregate.MAX.value:
        found = background_label(manifest.labels)
        background = manifest.labels[0] if found is None else found
    return LongText(policy, stride, aggregate, background, max_windows)


# One check per option, shared by `resolve_long_text` and `probe_runtime.load_options.LoadOptions`, which
# checks what it can before an artifact is read (the stride's upper bound needs the artifact's max length).
def check_policy(policy: object) -> str:
    try:
        return LongTextPolicy(policy).value
    except (ValueError, TypeError):
        raise UsageError(f"long_text must be 'truncate' or 'window', not {policy!r}") from None


def check_stride(stride: object) -> int:
    if not _is_int(stride) or stride < 0:
        raise UsageError(f"window_stride must be a whole number of tokens (0 or more), not {stride!r}")
    return stride


def check_max_windows(max_windows: object) -> int:
    if not _is_int(max_windows) or max_windows < 1:
        raise UsageError(f"max_windows must be a whole number of 1 or more, not {max_windows!r}")
    return max_windows


def check_aggregate(aggregate: object) -> str:
    try:
        return WindowAggregate(aggregate).value
    except (ValueError, TypeError):
        raise UsageError(f"window aggregate must be 'max', 'mean' or 'auto', not {aggregate!r}") from None


def _is_int(value: object) -> TypeGuard[int]:
    return isinstance(value, int) and not isinstance(value, bool)


class Windower:
    """Splits texts into overlapping token windows and folds window probabilities back per text."""

    def __init__(self, tokenizer: Tokenizer, max_length: int, labels: Sequence[Label], settings: LongText):
        # A private copy: the classifier's own tokenizer keeps plain truncation.
        with tokenizer_panics("loading"):
            self.tokenizer = Tokenizer.from_str(tokenizer.to_str())
            self.tokenizer.no_padding()
            specials = len(self.tokenizer.encode("", add_special_tokens=True).ids)
        room = max_length - specials
        if not 0 <= settings.stride < room:
            raise UsageError(
                f"window overlap must be between 0 and {room - 1} tokens for max_length {max_length}, "
                f"got {settings.stride}; pick a smaller --window-stride"
            )
        self.tokenizer.enable_truncation(max_length, stride=settings.stride)
        self.settings = settings
        # Tokens the first ``max_windows`` windows cover: the first window's room, then each next one's new part.
        self.tokens_read = room + (settings.max_windows - 1) * (room - settings.stride)
        self.background_index: int | None = None
        if settings.aggregate == WindowAggregate.MAX.value and not settings.per_label:
            if settings.background is None:  # `resolve_long_text` always picks one for ``max``
                raise UsageError("window aggregate 'max' needs a background label; pass one or use 'mean'")
            self.background_index = list(labels).index(settings.background)

    def encode(self, texts: Sequence[str]) -> tuple[list[Encoding], np.ndarray, Coverage]:
        """The first ``max_windows`` windows of every text, for each window the index of its text, and coverage."""
        windows: list[Encoding] = []
        owners: list[int] = []
        cap = self.settings.max_windows
        counts = np.empty(len(texts), dtype=np.int64)
        # Beyond what the windows can read the text is clipped before the tokenizer (`clip_text`): the
        # tokenizer's memory then depends on the window cap, never on the text's length.
        clipped = [clip_text(text, self.tokens_read) for text in texts]
        with tokenizer_panics("encoding texts"):
            encodings = self.tokenizer.encode_batch([head for head, _ in clipped], add_special_tokens=True)
        for index, encoding in enumerate(encodings):
            extra = encoding.overflowing
            kept = extra[: cap - 1]
            windows.append(encoding)
            windows.extend(kept)
            counts[index] = 1 + len(kept)
            owners.extend([index] * counts[index])
        total = np.fromiter((1 + len(e.overflowing) for e in encodings), dtype=np.int64, count=len(encodings))
        cut = np.fromiter((was_cut for _, was_cut in clipped), dtype=bool, count=len(clipped))
        return windows, np.asarray(owners, dtype=np.int64), Coverage(counts, (total > counts) | cut)

    def aggregate(self, proba: np.ndarray, owners: np.ndarray, n_texts: int) -> np.ndarray:
        """One probability row per text from the rows of its windows."""
        if self.settings.per_label and self.settings.aggregate == WindowAggregate.MAX.value:
            best = np.zeros((n_texts, proba.shape[1]), dtype=proba.dtype)  # probabilities are at least 0
            np.maximum.at(best, owners, proba)
            return best
        if self.background_index is None:
            sums = np.zeros((n_texts, proba.shape[1]), dtype=np.float64)
            np.add.at(sums, owners, proba)
            return (sums / np.bincount(owners, minlength=n_texts)[:, None]).astype(np.float32)
        # Per text, the window with the lowest background probability (ties: the earliest window).
        order = np.lexsort((proba[:, self.background_index], owners))
        firsts = order[np.r_[0, np.flatnonzero(np.diff(owners[order])) + 1]]
        return proba[firsts]

    def predict_proba(
        self, texts: Sequence[str], run: Callable[[Sequence[Encoding]], np.ndarray]
    ) -> tuple[np.ndarray, Coverage]:
        """``run`` turns encodings into probabilities (the classifier's own batched session call)."""
        windows, owners, coverage = self.encode(texts)
        return self.aggregate(run(windows), owners, len(texts)), coverage
