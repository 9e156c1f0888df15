"""Training a multi-label probe: the same embedding pass as a single-label one, then a logistic regression and a
threshold per label, scored on the test data as the exported file will decide.

`train_multilabel` takes a `MultiLabelRequest` and returns the same `TrainedModel` single-label training does
(`model_dir.save_trained` writes both), with ``task`` multi-label, the head's rows one label each (sigmoid, not
softmax) and ``thresholds`` chosen on the out-of-fold probabilities of the C search (data no model that made
them was fitted on). The L2 normalisation is chosen as the single-label probe chooses it, by the cross-validated
score of both (here the mean out-of-fold average precision over the labels, threshold-free), unless set.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
from probe_runtime.choices import Method, Pooling, Task
from probe_runtime.records import LabelThresholds, Provenance

from ..embedding_cache import EmbeddingCache
from ..embeddings import embed_texts, use_fast_attention
from ..encoder import Encoder, check_layer
from ..errors import FieldUsageError
from ..label_names import resolve_label_names
from ..model_dir import TrainedModel, sample_texts
from ..pooling import l2_normalize
from ..provenance import encoder_provenance, file_sha256, rows_sha256
from ..records import RunSettings, TrainReport
from ..settings import FinetuneSettings, ProbeSettings
from .data import MultiLabelDataset
from .fit import MultiLabelFit, fit_multilabel, sigmoid
from .metrics import evaluate_multilabel
from .thresholds import Thresholds, ThresholdTarget, choose_thresholds

__all__ = ["HELD_OUT_SOURCE", "MultiLabelRequest", "check_multilabel_settings", "score_multilabel", "train_multilabel"]

HELD_OUT_SOURCE = "the training data (5-fold cross-validated predictions)"


@dataclass(frozen=True)
class MultiLabelRequest:
    """One multi-label probe run: the data, the loaded encoder, the probe's settings, the threshold target.

    ``test``: scored into the report and kept for export's verification (None: no report). ``cache``: the
    embeddings are read from / kept in it, exactly as the single-label probe's are."""

    train: MultiLabelDataset
    encoder: Encoder
    settings: ProbeSettings = field(default_factory=ProbeSettings)
    target: ThresholdTarget = field(default_factory=ThresholdTarget)
    test: MultiLabelDataset | None = None
    show_progress: bool = False
    cache: EmbeddingCache | None = None


def check_multilabel_settings(settings: ProbeSettings) -> None:
    """Refuse, before any work, a setting multi-label training does not have (one line naming it)."""
    if isinstance(settings, FinetuneSettings):
        raise FieldUsageError(
            "fine-tuning multi-label data is not supported yet; train it with {method} probe (the default)", "method"
        )
    if settings.operating_point != "argmax" or settings.min_score is not None:
        raise FieldUsageError(
            "{operating_point} and {min_score} are single-label decisions; multi-label data gets a threshold per "
            "label instead (--threshold-target f1, precision=X or recall=X)",
            "operating_point",
            "min_score",
        )
    if settings.class_weight is not None:
        raise FieldUsageError(
            "{class_weight} is for single-label data; each label of multi-label data is weighed balanced "
            "(its texts with and without it count equally)",
            "class_weight",
        )


@dataclass(frozen=True)
class _Chosen:
    """The fitted heads, whether they read L2-normalised vectors, and how that was decided (with both scores)."""

    fit: MultiLabelFit
    normalize: bool
    chosen_by: str
    raw: float | None = None
    l2: float | None = None


def _fit(x: np.ndarray, y: np.ndarray, normalize: bool | None, seed: int) -> _Chosen:
    if normalize is not None:
        return _Chosen(fit_multilabel(l2_normalize(x) if normalize else x, y, seed=seed), normalize, "setting")
    raw, l2 = fit_multilabel(x, y, seed=seed), fit_multilabel(l2_normalize(x), y, seed=seed)
    score_raw, score_l2 = float(raw.cv_average_precision.mean()), float(l2.cv_average_precision.mean())
    use_l2 = score_l2 > score_raw + 1e-12  # raw on a tie: the simpler probe
    return _Chosen(l2 if use_l2 else raw, use_l2, "cross-validation", round(score_raw, 6), round(score_l2, 6))


def _settings_record(request: MultiLabelRequest, chosen: _Chosen, thresholds: Thresholds) -> RunSettings:
    labels, fit = request.train.labels, chosen.fit
    return RunSettings(
        seed=request.settings.seed,
        normalize=chosen.normalize,
        normalize_chosen_by=chosen.chosen_by,
        train_source=request.train.source,
        base_encoder=request.encoder.name,
        label_C={label: float(c) for label, c in zip(labels, fit.C)},
        cv_average_precision={label: round(float(a), 6) for label, a in zip(labels, fit.cv_average_precision)},
        cv_average_precision_raw=chosen.raw,
        cv_average_precision_l2=chosen.l2,
        threshold_target=str(thresholds.target),
        threshold_figures={
            t.label: {
                "threshold": round(t.threshold, 6),
                "precision": round(t.precision, 6),
                "recall": round(t.recall, 6),
                "f1": round(t.f1, 6),
                "reached": t.reached,
            }
            for t in thresholds.labels
        },
    )


def data_facts(data: MultiLabelDataset) -> dict[str, Any]:
    """Rows, texts per label and content hashes, as `provenance.dataset_facts` records single-label data."""
    facts: dict[str, Any] = {
        "source": data.source,
        "rows": len(data),
        "label_counts": {label: int(n) for label, n in zip(data.labels, data.support())},
        "rows_sha256": rows_sha256(data.texts, data.label_sets()),
    }
    if Path(data.source).is_file():
        facts["file_sha256"] = file_sha256(data.source)
    return facts


def score_multilabel(
    trained: TrainedModel,
    encoder: Encoder,
    test: MultiLabelDataset,
    batch_size: int = 32,
    show_progress: bool = False,
    cache: EmbeddingCache | None = None,
) -> dict[str, Any]:
    """The test figures of the head as exported: sigmoid(W·x + b) per label, decided at its threshold."""
    x = embed_texts(
        encoder,
        test.texts,
        trained.pooling,
        trained.layer,
        batch_size,
        show_progress,
        normalize=trained.normalize,
        cache=cache,
    )
    proba = sigmoid(x.astype(np.float64) @ trained.weight.T.astype(np.float64) + trained.bias)
    assert trained.thresholds is not None
    cuts = np.array([trained.thresholds.by_label[str(label)] for label in trained.labels])
    report = evaluate_multilabel(test.y, (proba >= cuts).astype(np.uint8), [str(label) for label in trained.labels])
    return {
        "n": report.n,
        "macro_f1": round(report.macro_f1, 6),
        "micro_f1": round(report.micro_f1, 6),
        "weighted_f1": round(report.weighted_f1, 6),
        "subset_accuracy": round(report.subset_accuracy, 6),
        "hamming_loss": round(report.hamming_loss, 6),
        "per_class": {
            s.label: {"precision": s.precision, "recall": s.recall, "f1": s.f1, "support": s.support}
            for s in report.per_label
        },
        "test_source": test.source,
    }


def train_multilabel(request: MultiLabelRequest) -> TrainedModel:
    """Embed once, fit a head per label (C and the normalisation by cross-validation), choose each label's
    threshold on the out-of-fold probabilities, and score the result on ``request.test``."""
    started = time.perf_counter()
    s, data, encoder = request.settings, request.train, request.encoder
    check_multilabel_settings(s)
    check_layer(encoder, s.layer)
    label_names = resolve_label_names(s.label_names, data.labels)
    use_fast_attention(encoder)  # frozen: it only embeds
    x = embed_texts(encoder, data.texts, s.pooling, s.layer, s.batch_size, request.show_progress, cache=request.cache)
    chosen = _fit(x, data.y, s.normalize, s.seed)
    thresholds = choose_thresholds(data.y, chosen.fit.held_out, data.labels, request.target)
    trained = TrainedModel(
        method=Method.PROBE,
        encoder=encoder.name,
        pooling=Pooling(s.pooling),
        layer=s.layer,
        max_length=encoder.max_length,
        labels=list(data.labels),
        weight=chosen.fit.coef.astype(np.float32),
        bias=chosen.fit.intercept.astype(np.float32),
        settings=_settings_record(request, chosen, thresholds),
        sample_texts=sample_texts(data.texts, s.seed),
        normalize=chosen.normalize,
        label_names=label_names,
        provenance=Provenance.parse(encoder_provenance(encoder), "provenance"),
        task=Task.MULTI_LABEL,
        thresholds=LabelThresholds(
            {t.label: t.threshold for t in thresholds.labels}, target=str(thresholds.target), chosen_on=HELD_OUT_SOURCE
        ),
    )
    facts: dict[str, Any] = {"train": data_facts(data)}
    scores: dict[str, Any] = {}
    if request.test is not None:
        scores = score_multilabel(trained, encoder, request.test, s.batch_size, request.show_progress, request.cache)
        facts["test"] = data_facts(request.test)
    report = TrainReport.parse({**scores, "labels": list(data.labels), "n_train": len(data), "data": facts}, "report")
    seconds = round(time.perf_counter() - started, 2)
    trained = replace(trained, report=replace(report, train_seconds=seconds))
    if request.test is None:
        return trained
    return replace(trained, eval_texts=request.test.texts, eval_y=request.test.y.tolist())
