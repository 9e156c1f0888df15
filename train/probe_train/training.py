"""Training's one entry point, shared by `probe train` and the scikit-learn estimator.

`train` takes a `TrainRequest` (the data, the loaded encoder, the settings of either method) and
returns a `TrainedModel`; `save_trained` (model_dir) writes it. Both methods end the same way: a
softmax head on pooled encoder vectors, scored on the held-out data by `evaluate_on`.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from probe_runtime.choices import Method, Pooling
from probe_runtime.records import Provenance

from .data import Dataset, weight_summary
from .decisions import HeldOut, choose_decisions, test_report
from .embedding_cache import EmbeddingCache
from .embeddings import embed_texts, text_encoder, use_fast_attention
from .encoder import Encoder, check_layer
from .finetune import finetune, split_validation
from .finetune_records import EpochResult
from .label_names import class_weights, resolve_label_names
from .metrics import evaluate
from .model_dir import ENCODER_DIR, TrainedModel, sample_texts
from .probe import FoldProgress, Search, fit_probe_choose_l2, softmax_head
from .provenance import dataset_facts, encoder_provenance
from .records import RunSettings, TrainReport, settings_record
from .settings import FinetuneSettings, ProbeSettings
from .static_encoder import StaticTable
from .static_module import StaticClassifier, StaticFinetune, finetune_static
from .static_training import static_features

__all__ = ["FinetuneSettings", "ProbeSettings", "TrainRequest", "evaluate_on", "scored_on", "train"]


@dataclass(frozen=True)
class TrainRequest:
    """One training run. ``settings`` picks the method: `ProbeSettings` (frozen encoder + logistic
    regression) or `FinetuneSettings` (encoder and head trained end to end).

    ``encoder``: the one ``settings.model`` names, loaded by the caller (who checks options against it
    before any work); fine-tuning trains it in place, and `save_trained` saves it from there.
    ``test``: scored into the model's report and kept for export verification; None: no report.
    ``checkpoint_dir``/``resume``/``on_epoch``: fine-tuning only.
    ``cache``: the probe's embeddings are read from / kept in it (`embedding_cache`); None: always computed.
    ``on_fold``: called as the probe's cross-validation finishes each fold (progress).
    """

    train: Dataset
    encoder: Encoder
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    test: Dataset | None = None
    show_progress: bool = False
    checkpoint_dir: Path | None = None
    resume: bool = False
    on_epoch: Callable[[EpochResult], None] | None = None
    cache: EmbeddingCache | None = None
    on_fold: FoldProgress | None = None
    # The static tier: the head reads this table's pooled vectors instead of the encoder's (which only
    # tokenizes); fine-tuning trains the table and the head (`static_module.finetune_static`).
    static: StaticTable | None = None


@dataclass(frozen=True)
class _Head:
    """What either method learned: the softmax head, what to record about the run, the examples fitted on."""

    weight: Any
    bias: Any
    settings: RunSettings
    n_train: int
    held_out: HeldOut | None = None  # logits on data the model did not fit: temperature, operating point
    normalize: bool = False  # the head reads L2-normalised vectors (set, or chosen by cross-validation)
    static: StaticTable | None = None  # the table the head reads (fine-tuning changes it)


def _sample_weight_record(data: Dataset) -> dict[str, Any] | None:
    """What the run records of per-row weights (``--weight-column``): nothing when there were none."""
    return None if data.weights is None else weight_summary(data.weights)


def _fit_probe(request: TrainRequest) -> _Head:
    s, data = request.settings, request.train
    use_fast_attention(request.encoder)  # frozen: it only embeds (export loads its own, eager)
    # The raw pooled vectors: `fit_probe_choose_l2` normalises them itself when asked or when it chooses to.
    if request.static is not None:
        x = static_features(request.static, request.encoder, data.texts)
    else:
        x = embed_texts(
            request.encoder, data.texts, s.pooling, s.layer, s.batch_size, request.show_progress, cache=request.cache
        )
    weights = class_weights(s.class_weight, data.labels, data.y)
    by_index = None if weights is None else dict(enumerate(weights.tolist()))
    needs_held_out = _needs_held_out(s)
    search = Search(
        seed=s.seed, on_fold=request.on_fold, class_weight=by_index, held_out=needs_held_out, sample_weight=data.weights
    )
    head, cv, l2 = fit_probe_choose_l2(x, data.y, s.normalize, search)
    weight, bias = softmax_head(head)
    both = l2.raw is not None and l2.l2 is not None
    recorded = RunSettings(
        C=cv.C,
        cv_accuracy=round(cv.accuracy, 6),
        cv_spread=round(cv.spread, 6),
        seed=s.seed,
        normalize=l2.normalize,
        normalize_chosen_by=l2.chosen_by,
        train_source=data.source,
        base_encoder=request.encoder.name,
        cv_accuracy_raw=round(l2.raw.accuracy, 6) if both and l2.raw else None,
        cv_accuracy_l2=round(l2.l2.accuracy, 6) if both and l2.l2 else None,
        class_weight=None if weights is None else tuple(weights.tolist()),
        sample_weight=_sample_weight_record(data),
    )
    held_out = None
    if needs_held_out and cv.held_out is not None:
        # The search's own out-of-fold predictions at the chosen C: no second pass over the folds.
        held_out = HeldOut(cv.held_out, data.y, "the training data (5-fold cross-validated predictions)")
    return _Head(weight, bias, recorded, len(data), held_out, normalize=l2.normalize, static=request.static)


def _needs_held_out(settings: ProbeSettings) -> bool:
    return settings.calibrate or settings.operating_point != "argmax" or settings.min_score is not None


def _logits(encoder: Encoder, texts: list[str], weight: Any, bias: Any, settings: ProbeSettings) -> Any:
    """The head's logits, W·x + b on pooled vectors (before the temperature and the softmax)."""
    normalize = bool(settings.normalize)
    x = embed_texts(encoder, texts, settings.pooling, settings.layer, settings.batch_size, normalize=normalize)
    return x.astype("float64") @ weight.T.astype("float64") + bias


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
    held_out = None
    if validation is not None and _needs_held_out(settings):
        logits = _logits(request.encoder, validation.texts, result.weight, result.bias, settings)
        held_out = HeldOut(logits, validation.y, "the validation split")
    recorded = settings_record(
        settings,
        train_source=request.train.source,
        base_encoder=request.encoder.name,
        n_validation=len(validation) if validation is not None else 0,
        best_epoch=result.best_epoch,
        steps=result.steps,
        history=[record.as_dict() for record in result.history],
        sample_weight=_sample_weight_record(fit),
    )
    return _Head(result.weight, result.bias, recorded, len(fit), held_out, normalize=bool(settings.normalize))


def _fit_static_finetune(request: TrainRequest, settings: FinetuneSettings) -> _Head:
    """The static tier fine-tuned: the probe's head on the table (fitted on the fine-tuning split), then head and
    table trained together (`static_module.finetune_static`, early stopping on a tenth of that split); the
    validation split, never trained on, is what the decisions are chosen on."""
    assert request.static is not None
    fit, validation = split_validation(request.train, settings)
    start = _fit_probe(replace(request, train=fit, on_fold=None))
    module = StaticClassifier.with_head(request.static, start.weight, start.bias, normalize=start.normalize)
    how = StaticFinetune(
        epochs=settings.epochs,
        learning_rate=settings.learning_rate,
        batch_size=settings.batch_size,
        patience=settings.patience,
        seed=settings.seed,
    )
    module, figures = finetune_static(module, text_encoder(request.encoder), fit.texts, fit.y, how)
    weight, bias = module.head_arrays()
    table = module.to_table()
    held_out = None
    if validation is not None and _needs_held_out(settings):
        x = static_features(table, request.encoder, validation.texts, normalize=start.normalize)
        held_out = HeldOut(
            x.astype("float64") @ weight.T.astype("float64") + bias, validation.y, "the validation split"
        )
    recorded = settings_record(
        replace(settings, normalize=start.normalize),
        train_source=request.train.source,
        base_encoder=request.encoder.name,
        n_validation=len(validation) if validation is not None else 0,
        best_epoch=int(figures["best_epoch"]),
    )
    return _Head(weight, bias, recorded, len(fit), held_out, normalize=start.normalize, static=table)


def evaluate_on(
    trained: TrainedModel,
    encoder: Encoder,
    data: Dataset,
    batch_size: int = 32,
    show_progress: bool = False,
    cache: EmbeddingCache | None = None,
) -> dict[str, Any]:
    """The held-out report of the head as it is exported (see `score_test`), without the diagram."""
    return score_test(trained, encoder, data, batch_size, show_progress, cache)[0]


def score_test(
    trained: TrainedModel,
    encoder: Encoder,
    data: Dataset,
    batch_size: int = 32,
    show_progress: bool = False,
    cache: EmbeddingCache | None = None,
) -> tuple[dict[str, Any], bytes | None]:
    """The held-out report of the head as it is exported: `metrics.evaluate` of its labels (argmax of the
    logits W·x + b on pooled vectors: the temperature cannot change it), then `decisions.test_report`
    (calibration, curves, the operating point); and the reliability diagram's PNG when one is drawn."""
    if trained.static is not None:
        x = static_features(trained.static, encoder, data.texts, normalize=trained.normalize)
    else:
        x = embed_texts(
            encoder,
            data.texts,
            trained.pooling,
            trained.layer,
            batch_size,
            show_progress,
            normalize=trained.normalize,
            cache=cache if trained.method != Method.FINETUNE else None,  # a fine-tuned encoder is not the cached one
        )
    logits = x.astype("float64") @ trained.weight.T.astype("float64") + trained.bias
    report = evaluate(data.y, logits.argmax(1), trained.labels)
    extra, png = test_report(logits, data.y, trained.temperature, trained.decision, trained.calibrated_on or None)
    return {**report, **extra}, png


def scored_on(
    trained: TrainedModel,
    encoder: Encoder,
    test: Dataset,
    batch_size: int = 32,
    show_progress: bool = False,
    cache: EmbeddingCache | None = None,
) -> TrainedModel:
    """``trained`` with its report scored on ``test`` (`score_test`), the texts kept for export's verification.

    The one way a report gets its held-out figures: `train` scores ``--test`` here, the estimator's `save`
    its evaluation data. Scoring is part of the run's ``train_seconds``."""
    started = time.perf_counter()
    scores, png = score_test(trained, encoder, test, batch_size, show_progress, cache)
    before = trained.report
    report = replace(
        TrainReport.parse(scores, "report"),
        n_train=before.n_train,
        train_seconds=round((before.train_seconds or 0.0) + time.perf_counter() - started, 2),
        test_source=test.source,
        data={**(before.data or {}), "test": dataset_facts(test)},
    )
    return replace(trained, report=report, reliability_png=png, eval_texts=test.texts, eval_y=test.y.tolist())


def train(request: TrainRequest) -> TrainedModel:
    """Fit the head (and, fine-tuning, the encoder), score it on ``request.test``, describe the run."""
    started = time.perf_counter()
    settings, encoder, data = request.settings, request.encoder, request.train
    check_layer(encoder, settings.layer)
    if isinstance(settings, FinetuneSettings) and settings.normalize is None:
        settings = replace(settings, normalize=False)  # fine-tuning: no search to decide by; raw unless asked
    label_names = resolve_label_names(settings.label_names, data.labels)
    choose_decisions(None, settings, data.labels)  # option mistakes (a threshold for three labels) before work
    if isinstance(settings, FinetuneSettings):
        head = _fit_finetune(request, settings) if request.static is None else _fit_static_finetune(request, settings)
    else:
        head = _fit_probe(request)
    temperature, decision = choose_decisions(head.held_out, settings, data.labels)
    calibrated = head.held_out is not None and settings.calibrate
    trained = TrainedModel(
        method=settings.method,
        encoder=ENCODER_DIR if settings.method == Method.FINETUNE and head.static is None else encoder.name,
        pooling=Pooling(settings.pooling),
        layer=settings.layer if head.static is None else 0,  # a static table reads no layer of the encoder
        max_length=encoder.max_length,
        labels=data.labels,
        weight=head.weight,
        bias=head.bias,
        report=TrainReport(
            n_train=head.n_train,
            train_seconds=round(time.perf_counter() - started, 2),
            data={"train": dataset_facts(data)},
        ),
        settings=head.settings,
        sample_texts=sample_texts(data.texts, settings.seed),
        normalize=head.normalize,
        temperature=temperature,
        calibrated_on=head.held_out.source if calibrated and head.held_out is not None else "",
        decision=decision,
        label_names=label_names,
        provenance=Provenance.parse(encoder_provenance(encoder), "provenance"),
        static=head.static,
    )
    if request.test is None:
        return trained
    return scored_on(trained, encoder, request.test, settings.batch_size, request.show_progress, request.cache)
