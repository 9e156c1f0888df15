"""A scikit-learn estimator over raw texts, for both methods, so probe works with ``cross_val_score``,
``GridSearchCV`` and pipelines.

It trains through the command line's own entry point (`training.train`), writes the same model
directory (`model_dir.save_trained`), and predicts like the exported artifact: pooled vector →
softmax(W·x + b).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
from probe_runtime.guard import refuse_existing_output, refuse_output_over_inputs
from sklearn.base import BaseEstimator, ClassifierMixin
from sklearn.utils.validation import check_is_fitted

from .data import Dataset, labels_without_weight
from .embeddings import embed_texts
from .encoder import load_encoder
from .errors import DataError
from .finetune import head_probabilities
from .model_dir import KIND, is_trained_model_dir, save_trained
from .settings import FinetuneSettings, Method, ProbeSettings
from .training import TrainRequest, scored_on, train

__all__ = ["ProbeClassifier"]


def _texts(X: Any) -> list[str]:
    """Accept a list, array, Series or single-column frame of strings."""
    if getattr(X, "ndim", None) == 2:
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

    ``normalize``: L2-normalise the pooled vector before the head (True/False), or None (the default):
    the probe cross-validates both and keeps the better (raw on a tie), fine-tuning uses raw vectors.

    Fitted attributes: ``classes_``, ``coef_`` ``[n_classes, dim]`` and ``intercept_`` (the softmax
    head, also for binary problems), ``encoder_``, ``trained_`` (the `TrainedModel` `save` writes),
    ``normalize_`` (whether the head reads L2-normalised vectors) and ``C_`` (probe) or ``history_``
    (fine-tuning).
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
        normalize: bool | None = None,
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
        self.normalize = normalize

    def __sklearn_tags__(self) -> Any:
        tags = super().__sklearn_tags__()
        tags.input_tags.two_d_array = False
        tags.input_tags.string = True
        return tags

    def _settings(self) -> ProbeSettings:
        """The CLI's settings classes: the same validation, the same recorded settings."""
        common: dict[str, Any] = {
            "model": self.model,
            "pooling": self.pooling,
            "layer": self.layer,
            "max_length": self.max_length,
            "batch_size": self.batch_size,
            "seed": self.seed,
            "normalize": self.normalize,
        }
        if self.method == "probe":
            return ProbeSettings(**common)
        return FinetuneSettings(
            **common,
            epochs=self.epochs,
            learning_rate=self.learning_rate,
            validation_size=self.validation_size,
            patience=self.patience,
            checkpoint_every=0,
        )

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> ProbeClassifier:
        """``sample_weight``: a weight >= 0 per text for the loss (as scikit-learn's, and `probe train
        --weight-column`); scores and reports still count every text once."""
        if self.method not in Method.values():
            raise ValueError(f"method must be one of {Method.values()}, not {self.method!r}")
        texts, y = _texts(X), np.asarray(y)
        if len(texts) != len(y):
            raise ValueError(f"X has {len(texts)} texts but y has {len(y)} labels")
        self.classes_, index = np.unique(y, return_inverse=True)
        if len(self.classes_) < 2:
            raise DataError(f"every example has the label {self.classes_[0]!r}; a classifier needs two classes")
        weights = None if sample_weight is None else np.asarray(sample_weight, dtype=np.float64)
        if weights is not None and (
            weights.shape != (len(texts),) or not np.isfinite(weights).all() or (weights < 0).any()
        ):
            raise ValueError(f"sample_weight must be {len(texts)} finite numbers >= 0, one per text")
        if weights is not None and (unweighted := labels_without_weight(index, weights, self.classes_.tolist())):
            raise ValueError(f"sample_weight gives every text of {unweighted} weight 0; the model could never learn it")
        data = Dataset(texts, index.astype(np.int64), self.classes_.tolist(), "fit data", weights)
        settings = self._settings()
        self.encoder_ = load_encoder(self.model, self.max_length)
        request = TrainRequest(data, self.encoder_, settings, show_progress=self.show_progress)
        self.trained_ = train(request)
        self.coef_, self.intercept_ = self.trained_.weight, self.trained_.bias
        self.normalize_ = self.trained_.normalize
        if self.method == "probe":
            self.C_ = self.trained_.settings.C
        else:
            self.history_ = list(self.trained_.settings.history or ())
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "coef_")
        x = embed_texts(
            self.encoder_,
            _texts(X),
            self.pooling,
            self.layer,
            self.batch_size,
            self.show_progress,
            normalize=self.normalize_,
        )
        return head_probabilities(x, self.coef_, self.intercept_, self.trained_.temperature)

    def predict(self, X: Any) -> np.ndarray:
        best = self.predict_proba(X).argmax(1)
        result: np.ndarray = self.classes_[best]
        return result

    def _evaluation(self, eval_texts: Any, eval_y: Any) -> Dataset:
        labels = self.trained_.labels
        ys = np.asarray(eval_y)
        unknown = sorted({str(v) for v in ys[~np.isin(ys, self.classes_)]})
        if unknown:
            raise DataError(f"evaluation labels {unknown} were not seen in fit (classes: {labels})")
        index = np.searchsorted(self.classes_, ys).astype(np.int64)
        return Dataset(_texts(eval_texts), index, labels, "evaluation data")

    def save(
        self,
        out: str | Path,
        eval_texts: Any = None,
        eval_y: Any = None,
        *,
        overwrite: bool = False,
    ) -> Path:
        """Write a model directory that ``probe export`` turns into the one-file artifact.

        ``report.json`` is the full report (metrics, per-class figures, confusion matrix, the data's rows,
        label counts and hashes), as `probe train` writes it. The model card beside it, and the verified
        artifact itself, are the export package's (`probe_export.estimator.save_with_card` and
        `export_estimator`: the layer above this one).

        ``eval_texts``/``eval_y`` (labelled held-out data) are what export verifies the file on, and
        what the directory's report scores, as ``probe train --test`` does.
        Like ``probe train --out``: ``out`` may not be or hold the encoder, and an existing ``out`` is
        replaced only if it is a model directory saved by probe and ``overwrite=True``; anything else
        raises `UsageError` and is left untouched.
        """
        check_is_fitted(self, "coef_")
        refuse_output_over_inputs(out, {"encoder": self.encoder_.path}, flag="out")
        refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_trained_model_dir, kind=KIND)
        trained = self.trained_
        if eval_texts is not None:
            evaluation = self._evaluation(eval_texts, eval_y)
            trained = scored_on(trained, self.encoder_, evaluation, self.batch_size, self.show_progress)
        return save_trained(trained, out, encoder=self.encoder_, overwrite=overwrite)
