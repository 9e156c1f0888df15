"""The closed choices an artifact records (pooling, long-text policy, precision, ...), as enums.

They are the single list of what is allowed: the manifest validates against them, and every CLI
offers exactly their values (``Choice.values()``), so a new choice is added in one place.
Members are ``str`` subclasses, so a member equals its value (``Pooling.MEAN == "mean"``) and
prints as it (``f"{Pooling.MEAN}"`` is ``mean``), as plain strings did before the enums.
"""

from __future__ import annotations

from enum import Enum

__all__ = [
    "Choice",
    "DecisionRule",
    "EncoderKind",
    "LongTextPolicy",
    "Method",
    "Pooling",
    "Quantization",
    "Task",
    "WindowAggregate",
]


class Choice(str, Enum):
    """A closed choice stored in the manifest as its string value."""

    # Python 3.10 has no enum.StrEnum; these two make str() and f-strings show the value on every version.
    def __str__(self) -> str:
        return str(self.value)

    def __format__(self, format_spec: str) -> str:
        return format(str(self.value), format_spec)

    @classmethod
    def values(cls) -> tuple[str, ...]:
        """Every allowed value, in declaration order (what a CLI offers as ``choices``)."""
        return tuple(str(member.value) for member in cls)


class Pooling(Choice):
    """How token vectors become one text vector."""

    MEAN = "mean"
    CLS = "cls"
    MAX = "max"


class LongTextPolicy(Choice):
    """What to do with texts longer than the model's maximum length."""

    TRUNCATE = "truncate"
    WINDOW = "window"


class WindowAggregate(Choice):
    """How the windows of a long text become one prediction (see `probe_runtime.long_text`)."""

    MAX = "max"
    MEAN = "mean"
    AUTO = "auto"


class Method(Choice):
    """How the classifier was trained: a linear probe on a frozen encoder, or the encoder fine-tuned."""

    PROBE = "probe"
    FINETUNE = "finetune"


class Quantization(Choice):
    """The precision of the shipped graph's weights and activations."""

    INT8 = "int8"  # activations scaled per batch
    INT8_PER_TOKEN = "int8-per-token"  # activations scaled per token
    # A static encoder's table stored as int8 rows with an fp32 scale each; the arithmetic is fp32, so the answers
    # depend neither on the batch nor on the CPU's int8 kernels (there are none). ``int8`` would claim per-batch
    # activations and ``none`` a table 4x the size.
    INT8_TABLE = "int8-table"
    NONE = "none"  # fp32

    @property
    def batch_dependent(self) -> bool:
        """Activations scaled per batch: a text's answer can depend on the other texts of its call."""
        return self is Quantization.INT8


class DecisionRule(Choice):
    """How an artifact turns probabilities into a label (see `probe_runtime.decision`)."""

    ARGMAX = "argmax"  # the most probable label
    FPR = "fpr"  # binary: the threshold whose false-positive rate on held-out data is at most the target
    RECALL = "recall"  # binary: the highest threshold whose recall is at least the target
    PRECISION = "precision"  # binary: the lowest threshold whose precision is at least the target
    F1 = "f1"  # binary: the threshold of the best F1
    MIN_SCORE = "min_score"  # multi-class: argmax, or the abstain label when its probability is below min_score


class Task(Choice):
    """What an answer is: one label per text (softmax over the labels), or any number of them (a sigmoid per label,
    each decided by its own threshold: ``Manifest.thresholds``)."""

    SINGLE_LABEL = "single-label"
    MULTI_LABEL = "multi-label"


class EncoderKind(Choice):
    """What turns tokens into the vector the head reads: transformer blocks, or a static token-embedding table."""

    TRANSFORMER = "transformer"
    STATIC = "static"  # a table distilled from a transformer: lookup, weighted mean, no attention
