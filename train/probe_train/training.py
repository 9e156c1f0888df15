"""`probe train`: data in, a trained model directory out, with an honest held-out report."""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass

from probe_runtime.errors import UsageError

from .data import Dataset
from .embeddings import embed_texts
from .encoder import DEFAULT_MODEL, Encoder, check_layer, check_max_length, load_encoder
from .metrics import evaluate
from .model_dir import TrainedModel, sample_texts
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
        if self.pooling not in {p.value for p in Pooling}:
            choices = ", ".join(p.value for p in Pooling)
            raise UsageError(f"--pooling must be one of {choices}, not {self.pooling!r}")
        if isinstance(self.batch_size, bool) or not isinstance(self.batch_size, int) or self.batch_size < 1:
            raise UsageError(f"--batch-size must be a whole number of at least 1, not {self.batch_size!r}")
        if isinstance(self.layer, bool) or not isinstance(self.layer, int) or self.layer < -1:
            raise UsageError(f"--layer must be -1 (the last), 0 (the embeddings) or a block number, not {self.layer!r}")
        if self.max_length is not None:
            check_max_length(self.max_length, None, self.model or DEFAULT_MODEL)


def train_probe(
    train: Dataset,
    test: Dataset,
    settings: ProbeSettings,
    show_progress: bool = True,
    *,
    encoder: Encoder | None = None,
) -> TrainedModel:
    """Embed with the frozen encoder, fit the logistic-regression head, evaluate on ``test``.

    ``encoder``: the one ``settings`` names, already loaded (the CLI loads it first to check options).
    """
    started = time.perf_counter()
    if encoder is None:
        encoder = load_encoder(settings.model, settings.max_length)
    check_layer(encoder, settings.layer)

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
        sample_texts=sample_texts(train.texts, settings.seed),
    )
