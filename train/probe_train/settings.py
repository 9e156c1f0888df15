"""What a training run is asked to do: the probe's settings, and fine-tuning's on top of them.

Validated on creation, so a mistake surfaces before an encoder is loaded. The class says the method
(`ProbeSettings.method`), so a request cannot name one method and carry the other's settings.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import ClassVar

from probe_runtime.choices import Method

from .encoder import DEFAULT_MODEL, check_max_length
from .errors import FieldUsageError
from .pooling import Pooling

__all__ = ["FinetuneSettings", "Method", "ProbeSettings"]


@dataclass(frozen=True)
class ProbeSettings:
    """How to turn the encoder into features, and the seed; the frozen-encoder probe needs nothing more."""

    method: ClassVar[Method] = Method.PROBE

    model: str | None = None
    pooling: str = Pooling.MEAN.value
    layer: int = -1
    max_length: int | None = None
    batch_size: int = 32
    seed: int = 0
    # L2-normalise the pooled vector before the head (as sentence-transformers models do); in the graph too.
    # None: the probe searches both and keeps the better CV accuracy (raw on a tie); fine-tuning: raw.
    normalize: bool | None = None
    # Decisions the user sets (probe_train.decisions): the operating point chosen on held-out data,
    # multi-class abstention, per-class loss weights, temperature scaling, label display names.
    operating_point: str = "argmax"
    min_score: float | None = None
    class_weight: str | dict[str, str] | None = field(default=None, hash=False)
    calibrate: bool = True
    label_names: dict[str, str] | None = field(default=None, hash=False)

    def __post_init__(self) -> None:
        if self.pooling not in Pooling.values():
            choices = ", ".join(p.value for p in Pooling)
            raise FieldUsageError(f"{{pooling}} must be one of {choices}, not {self.pooling!r}", "pooling")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise FieldUsageError(
                f"{{batch_size}} must be a whole number of at least 1, not {self.batch_size!r}", "batch_size"
            )
        if isinstance(self.layer, bool) or not isinstance(self.layer, int):
            raise FieldUsageError(
                f"{{layer}} must be a whole number (0: the embeddings, -1: the last), not {self.layer!r}", "layer"
            )
        if self.normalize is not None and not isinstance(self.normalize, bool):
            raise FieldUsageError(
                f"normalize must be True, False or None (chosen by cross-validation), not {self.normalize!r}"
            )
        if self.max_length is not None:
            check_max_length(self.max_length, None, self.model or DEFAULT_MODEL)
        from .operating_point import parse_operating_point

        parse_operating_point(self.operating_point)
        if self.min_score is not None and not 0 < self.min_score < 1:
            raise FieldUsageError(
                f"{{min_score}} must be between 0 and 1 (exclusive), not {self.min_score}", "min_score"
            )


@dataclass(frozen=True)
class FinetuneSettings(ProbeSettings):
    """The probe's settings plus the optimisation ones; defaults suit MiniLM on a few thousand texts."""

    method: ClassVar[Method] = Method.FINETUNE

    batch_size: int = 16
    epochs: int = 5
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    validation_size: float = 0.1
    patience: int = 2
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs < 1:
            raise FieldUsageError(f"{{epochs}} must be at least 1, not {self.epochs}", "epochs")
        if not self.learning_rate > 0:
            raise FieldUsageError(f"{{learning_rate}} must be positive, not {self.learning_rate}", "learning_rate")
        if not 0 <= self.validation_size < 1:
            raise FieldUsageError(
                f"{{validation_size}} must be in [0, 1), not {self.validation_size}", "validation_size"
            )
        if not 0 <= self.warmup_ratio < 1:
            raise FieldUsageError(f"the warm-up fraction must be in [0, 1), not {self.warmup_ratio}")
        if self.patience < 1:
            raise FieldUsageError(f"{{patience}} must be at least 1, not {self.patience}", "patience")
        if self.validation_size == 0 and (self.operating_point != "argmax" or self.min_score is not None):
            raise FieldUsageError(
                "{operating_point} and {min_score} are chosen on the validation split: "
                "use a {validation_size} above 0 with them",
                "operating_point",
                "min_score",
                "validation_size",
            )
