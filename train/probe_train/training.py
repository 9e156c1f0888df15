"""Training's one entry point, shared by `probe train` and the scikit-learn estimator.

`train` takes a `TrainRequest` (the data, the loaded encoder, the settings of either method) and
returns a `TrainedModel`; `save_trained` (model_dir) writes it. Both methods end the same way: a
softmax head on pooled encoder vectors, scored on the held-out data by `evaluate_on`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from .data import Dataset
from .embeddings import embed_texts
from .encoder import Encoder, check_layer
from .finetune import EpochResult, finetune, head_probabilities, split_validation
from .metrics import evaluate
from .model_dir import ENCODER_DIR, TrainedModel, sample_texts
from .probe import fit_probe, softmax_head
from .provenance import dataset_facts, encoder_provenance
from .settings import FinetuneSettings, ProbeSettings

__all__ = ["FinetuneSettings", "ProbeSettings", "TrainRequest", "evaluate_on", "train"]


@dataclass(frozen=True)
class TrainRequest:
    """One training run. ``settings`` picks the method: `ProbeSettings` (frozen encoder + logistic
    regression) or `FinetuneSettings` (encoder and head trained end to end).

    ``encoder``: the one ``settings.model`` names, loaded by the caller (who checks options against it
    before any work); fine-tuning trains it in place, and `save_trained` saves it from there.
    ``test``: scored into the model's report and kept for export verification; None: no report.
    ``checkpoint_dir``/``resume``/``on_epoch``: fine-tuning only.
    """

    train: Dataset
    encoder: Encoder
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    test: Dataset | None = None
    show_progress: bool = False
    checkpoint_dir: Path | None = None
    resume: bool = False
    on_epoch: Callable[[EpochResult], None] | None = None


@dataclass(frozen=True)
class _Head:
    """What either method learned: the softmax head, what to record about the run, the examples fitted on."""

    weight: Any
    bias: Any
    settings: dict[str, Any]
    n_train: int


def _fit_probe(request: TrainRequest) -> _Head:
    s, data = request.settings, request.train
    x = embed_texts(request.encoder, data.texts, s.pooling, s.layer, s.batch_size, request.show_progress)
    head = fit_probe(x, data.y, seed=s.seed)
    weight, bias = softmax_head(head)
    recorded = {"C": float(head.C), "seed": s.seed, "train_source": data.source, "base_encoder": request.encoder.name}
    return _Head(weight, bias, recorded, len(data))


def _fit_finetune(request: TrainRequest, settings: FinetuneSettings) -> _Head:
    fit, validation = split_validation(request.train, settings)
    result = finetune(
        request.encoder,
        fit,
        validation,
        settings,
        checkpoint_dir=request.checkpoint_dir,
        resume=request.resume,
        show_progress=request.show_progress,
        on_epoch=request.on_epoch,
    )
    recorded = {
        **{k: v for k, v in asdict(settings).items() if k not in ("model", "pooling", "layer", "max_length")},
        "train_source": request.train.source,
        "base_encoder": request.encoder.name,
        "n_validation": len(validation) if validation is not None else 0,
        "best_epoch": result.best_epoch,
        "steps": result.steps,
        "history": [record.as_dict() for record in result.history],
    }
    return _Head(result.weight, result.bias, recorded, len(fit))


def evaluate_on(
    trained: TrainedModel, encoder: Encoder, data: Dataset, batch_size: int = 32, show_progress: bool = False
) -> dict[str, Any]:
    """The held-out report (`metrics.evaluate`) of the head as it is exported: softmax(W·x + b) on pooled vectors."""
    x = embed_texts(encoder, data.texts, trained.pooling, trained.layer, batch_size, show_progress)
    return evaluate(data.y, head_probabilities(x, trained.weight, trained.bias).argmax(1), trained.labels)


def train(request: TrainRequest) -> TrainedModel:
    """Fit the head (and, fine-tuning, the encoder), score it on ``request.test``, describe the run."""
    started = time.perf_counter()
    settings, encoder, data = request.settings, request.encoder, request.train
    check_layer(encoder, settings.layer)
    if isinstance(settings, FinetuneSettings):
        head = _fit_finetune(request, settings)
    else:
        head = _fit_probe(request)
    trained = TrainedModel(
        method=settings.method,
        encoder=ENCODER_DIR if settings.method == "finetune" else encoder.name,
        pooling=settings.pooling,
        layer=settings.layer,
        max_length=encoder.max_length,
        labels=data.labels,
        weight=head.weight,
        bias=head.bias,
        settings=head.settings,
        sample_texts=sample_texts(data.texts, settings.seed),
        provenance=encoder_provenance(encoder),
    )
    test = request.test
    if test is not None:
        trained.report.update(evaluate_on(trained, encoder, test, settings.batch_size, request.show_progress))
        trained.eval_texts, trained.eval_y = test.texts, test.y.tolist()
    trained.report.update(train_seconds=round(time.perf_counter() - started, 2), n_train=head.n_train)
    if test is not None:
        trained.report["test_source"] = test.source
    trained.report["data"] = {"train": dataset_facts(data), **({"test": dataset_facts(test)} if test else {})}
    return trained
