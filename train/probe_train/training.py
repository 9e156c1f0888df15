"""`probe train`: data in, a trained model directory out, with an honest held-out report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from .data import Dataset
from .embeddings import embed_texts
from .encoder import load_encoder
from .metrics import evaluate
from .model_dir import TrainedModel
from .pooling import Pooling
from .probe import fit_probe, softmax_head

__all__ = ["ProbeSettings", "train_probe"]

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class ProbeSettings:
    """How to turn the encoder into features; validated on creation so mistakes surface early."""

    model: str | None = None
    pooling: str = Pooling.MEAN.value
    layer: int = -1
    max_length: int | None = None
    batch_size: int = 32
    seed: int = 0

    def __post_init__(self) -> None:
        Pooling(self.pooling)
        if self.batch_size < 1:
            raise ValueError("batch_size must be positive")


def train_probe(train: Dataset, test: Dataset, settings: ProbeSettings, show_progress: bool = True) -> TrainedModel:
    """Embed with the frozen encoder, fit the logistic-regression head, evaluate on ``test``."""
    started = time.perf_counter()
    encoder = load_encoder(settings.model, settings.max_length)
    n_layers = getattr(encoder.model.config, "num_hidden_layers", None)
    if n_layers is not None and not -1 <= settings.layer <= n_layers:
        from .errors import ProbeError

        raise ProbeError(f"--layer {settings.layer} is out of range: this encoder has layers 0..{n_layers}")

    def features(data: Dataset):  # noqa: ANN202 - numpy array
        return embed_texts(encoder, data.texts, settings.pooling, settings.layer, settings.batch_size, show_progress)

    x_train = features(train)
    head = fit_probe(x_train, train.y, seed=settings.seed)
    x_test = features(test)
    report = evaluate(test.y, head.predict(x_test), train.labels)
    report["train_seconds"] = round(time.perf_counter() - started, 2)
    report["n_train"] = len(train)
    report["test_source"] = test.source
    weight, bias = softmax_head(head)
    return TrainedModel(
        method="probe",
        encoder=encoder.name,
        pooling=settings.pooling,
        layer=settings.layer,
        max_length=encoder.max_length,
        labels=train.labels,
        weight=weight,
        bias=bias,
        report=report,
        settings={
            "C": float(head.C),
            "seed": settings.seed,
            "train_source": train.source,
            "base_encoder": encoder.name,
        },
        eval_texts=test.texts,
        eval_y=test.y.tolist(),
    )
