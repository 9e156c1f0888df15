"""A scikit-learn estimator over raw texts, for both methods, so probe works with ``cross_val_score``,
``GridSearchCV`` and pipelines.

It reuses the command line's pieces (``fit_probe``/``softmax_head`` for the probe, ``finetune`` for
fine-tuning) and predicts like the exported artifact: pooled vector → softmax(W·x + b).
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
from probe_runtime.guard import refuse_existing_output, refuse_output_over_inputs
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .data import Dataset
from .embeddings import embed_texts
from .encoder import load_encoder
from .errors import DataError
from .finetune import FinetuneSettings, finetune, head_probabilities, save_finetuned, split_validation
from .model_dir import ENCODER_DIR, KIND, TrainedModel, is_trained_model_dir, sample_texts, save_trained
from .probe import fit_probe, softmax_head

__all__ = ["ProbeClassifier"]

METHODS = ("probe", "finetune")


def _texts(X: Iterable[str] | Any) -> list[str]:
    """Accept a list, array, Series or single-column frame of strings."""
    if hasattr(X, "ndim") and X.ndim == 2:
        if X.shape[1] != 1:
            raise DataError(f"expected one text per row, got {X.shape[1]} columns; pass a single column of texts")
        X = np.asarray(X)[:, 0]
    if isinstance(X, str):
        raise DataError("expected a list of texts, got one string; wrap it in a list")
    texts = list(X)
    bad = next((i for i, t in enumerate(texts) if not isinstance(t, str)), None)
    if bad is not None:
        raise DataError(f"text {bad} is {type(texts[bad]).__name__}, not a string")
    return texts


class ProbeClassifier(ClassifierMixin, BaseEstimator):
    """Text classifier on a pretrained encoder: ``method="probe"`` (frozen encoder + logistic
    regression, C by cross-validation) or ``method="finetune"`` (encoder and linear head trained
    end to end). ``X`` is a sequence of raw strings.

    Fitted attributes: ``classes_``, ``coef_`` ``[n_classes, dim]`` and ``intercept_`` (the softmax
    head, also for binary problems), ``encoder_`` and, for fine-tuning, ``history_``.
    """

    def __init__(
        self,
        method: str = "probe",
        model: str | None = None,
        pooling: str = "mean",
        layer: int = -1,
        max_length: int | None = None,
        batch_size: int = 32,
        seed: int = 0,
        epochs: int = FinetuneSettings.epochs,
        learning_rate: float = FinetuneSettings.learning_rate,
        validation_size: float = FinetuneSettings.validation_size,
        patience: int = FinetuneSettings.patience,
        show_progress: bool = False,
    ):
        self.method = method
        self.model = model
        self.pooling = pooling
        self.layer = layer
        self.max_length = max_length
        self.batch_size = batch_size
        self.seed = seed
        self.epochs = epochs
        self.learning_rate = learning_rate
        self.validation_size = validation_size
        self.patience = patience
        self.show_progress = show_progress

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _settings(self) -> FinetuneSettings:
        return FinetuneSettings(
            model=self.model,
            pooling=self.pooling,
            layer=self.layer,
            max_length=self.max_length,
            batch_size=self.batch_size,
            seed=self.seed,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            validation_size=self.validation_size,
            patience=self.patience,
            checkpoint_every=0,
        )

    def fit(self, X: Iterable[str], y: Iterable[Any]) -> ProbeClassifier:
        if self.method not in METHODS:
            raise ValueError(f"method must be one of {METHODS}, not {self.method!r}")
        texts, y = _texts(X), np.asarray(y)
        if len(texts) != len(y):
            raise ValueError(f"X has {len(texts)} texts but y has {len(y)} labels")
        # Kept for `save`: the export checks its precision candidates against fp32 on training texts.
        self.sample_texts_ = sample_texts(texts, self.seed)
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"every example has the label {self.classes_[0]!r}; a classifier needs two classes")
        data = Dataset(texts, index.astype(np.int64), self.classes_.tolist(), "fit data")
        settings = self._settings()
        self.encoder_ = load_encoder(self.model, self.max_length)
        if self.method == "probe":
            x = embed_texts(self.encoder_, texts, self.pooling, self.layer, self.batch_size, self.show_progress)
            head = fit_probe(x, data.y, seed=self.seed)
            self.coef_, self.intercept_ = softmax_head(head)
            self.C_ = float(head.C)
        else:
            fit, validation = split_validation(data, settings)
            result = finetune(self.encoder_, fit, validation, settings, show_progress=self.show_progress)
            self.coef_, self.intercept_ = result.weight, result.bias
            self.history_ = result.history
        return self

    def predict_proba(self, X: Iterable[str]) -> np.ndarray:
        check_is_fitted(self, "coef_")
        x = embed_texts(self.encoder_, _texts(X), self.pooling, self.layer, self.batch_size, self.show_progress)
        return head_probabilities(x, self.coef_, self.intercept_)

    def predict(self, X: Iterable[str]) -> np.ndarray:
        best = self.predict_proba(X).argmax(1)
        return self.classes_[best]

    def save(
        self,
        out: str | Path,
        eval_texts: Iterable[str] | None = None,
        eval_y: Iterable[Any] | None = None,
        *,
        overwrite: bool = False,
    ) -> Path:
        """Write a model directory that ``probe export`` turns into the one-file artifact.

        ``eval_texts``/``eval_y`` (labelled held-out data) are what export verifies the file on.
        Like ``probe train --out``: ``out`` may not be or hold the encoder, and an existing ``out`` is
        replaced only if it is a model directory saved by probe and ``overwrite=True``; anything else
        raises `UsageError` and is left untouched.
        """
        check_is_fitted(self, "coef_")
        refuse_output_over_inputs(out, {"encoder": self.encoder_.path}, flag="out")
        refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_trained_model_dir, kind=KIND, flag="out")
        labels = [v.item() if hasattr(v, "item") else v for v in self.classes_]
        evaluation = None
        if eval_texts is not None:
            eval_y = np.asarray(eval_y)
            unknown = sorted({str(v) for v in eval_y[~np.isin(eval_y, self.classes_)]})
            if unknown:
                raise DataError(f"evaluation labels {unknown} were not seen in fit (classes: {labels})")
            ys = np.searchsorted(self.classes_, eval_y)
            evaluation = Dataset(_texts(eval_texts), ys.astype(np.int64), labels, "evaluation data")
        settings = {"seed": self.seed, "base_encoder": self.encoder_.name, "estimator": self.get_params()}
        trained = TrainedModel(
            method=self.method,
            encoder=self.encoder_.name if self.method == "probe" else ENCODER_DIR,
            pooling=self.pooling,
            layer=self.layer,
            max_length=self.encoder_.max_length,
            labels=labels,
            weight=self.coef_,
            bias=self.intercept_,
            settings=settings,
            eval_texts=evaluation.texts if evaluation else [],
            eval_y=evaluation.y.tolist() if evaluation else [],
            sample_texts=getattr(self, "sample_texts_", []),
        )
        if self.method == "probe":
            return save_trained(trained, out, evaluation, overwrite=overwrite)
        return save_finetuned(trained, self.encoder_, out, evaluation, overwrite=overwrite)
