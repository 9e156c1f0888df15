"""What a fine-tuning run records: each epoch's scores, the loop's resumable state, the result.

Plain records apart from the loop (`finetune`), so the command line and `training` read a run's
results without the loop's torch machinery in view. `Progress` is the loop's whole state: checkpoints save
it as plain containers (`as_dict`) and a resumed run continues from it exactly.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np

__all__ = ["EpochRecord", "EpochResult", "FinetuneResult", "Progress", "Scores"]


@dataclass(frozen=True)
class Scores:
    """One epoch's validation figures; early stopping ranks by macro-F1, then by lower loss."""

    loss: float
    accuracy: float
    macro_f1: float

    def beats(self, best: Scores | None) -> bool:
        return best is None or (self.macro_f1, -self.loss) > (best.macro_f1, -best.loss)


@dataclass(frozen=True)
class EpochRecord:
    """One line of the training history (recorded in the model directory's settings)."""

    epoch: int
    train_loss: float
    validation: Scores | None = None

    def as_dict(self) -> dict[str, Any]:
        record: dict[str, Any] = {"epoch": self.epoch, "train_loss": self.train_loss}
        if self.validation is not None:
            record["validation"] = asdict(self.validation)
        return record

    @classmethod
    def from_dict(cls, record: dict[str, Any]) -> EpochRecord:
        validation = record.get("validation")
        return cls(record["epoch"], record["train_loss"], Scores(**validation) if validation else None)


@dataclass
class Progress:
    """Where the loop is (epoch, batch within it, optimizer step) and the early-stopping state."""

    epoch: int = 0
    batch: int = 0
    step: int = 0
    loss_sum: float = 0.0
    best: Scores | None = None
    best_epoch: int = 0
    bad_epochs: int = 0
    history: list[EpochRecord] = field(default_factory=list)
    stopped: bool = False

    def as_dict(self) -> dict[str, Any]:
        """Plain containers only: checkpoints are read back with ``torch.load(weights_only=True)``."""
        state = asdict(self)
        state["best"] = asdict(self.best) if self.best is not None else None
        state["history"] = [record.as_dict() for record in self.history]
        return state

    @classmethod
    def from_dict(cls, state: dict[str, Any]) -> Progress:
        best = state["best"]
        history = [EpochRecord.from_dict(record) for record in state["history"]]
        return cls(**{**state, "best": Scores(**best) if best else None, "history": history})

    @property
    def mean_loss(self) -> float:
        return self.loss_sum / max(self.batch, 1)


@dataclass(frozen=True)
class EpochResult:
    """What happened in one epoch; handed to ``on_epoch`` so a CLI can print it."""

    epoch: int
    epochs: int
    train_loss: float
    validation: Scores | None
    best_epoch: int
    improved: bool
    seconds: float
    eta_seconds: float
    stopping: bool


@dataclass
class FinetuneResult:
    """The fine-tuned head (the encoder was trained in place) and the epoch history."""

    weight: np.ndarray
    bias: np.ndarray
    history: list[EpochRecord] = field(default_factory=list)
    best_epoch: int = 0
    steps: int = 0
    resumed_from: int | None = None
