"""Classify texts with a probe artifact: onnxruntime + tokenizers + numpy, nothing heavier."""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import overload

import numpy as np
import onnxruntime as ort

from .artifact import OUTPUT_NAME, Label, Manifest, manifest_from_metadata
from .batching import TextEncoder
from .errors import ArtifactError, InputError

__all__ = ["Classifier", "Prediction"]

DEFAULT_BATCH_SIZE = 64
DEFAULT_MAX_TOKENS = 8192


@dataclass(frozen=True)
class Prediction:
    """One text's result: the winning label, its probability, and every class's probability."""

    label: Label
    score: float
    scores: dict[Label, float]


def _session(path: Path, threads: int | None) -> ort.InferenceSession:
    options = ort.SessionOptions()
    if threads:
        options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    try:
        return ort.InferenceSession(str(path), sess_options=options, providers=["CPUExecutionProvider"])
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ArtifactError(
            f"{path} is not a readable ONNX model (corrupted, truncated, or not ONNX at all): "
            f"{str(exc).splitlines()[0][:200]}"
        ) from exc


class Classifier:
    """A loaded artifact. Thread-safe for concurrent ``predict`` calls (onnxruntime sessions are)."""

    def __init__(self, session: ort.InferenceSession, manifest: Manifest, tokenizer_json: str, source: str):
        self.session = session
        self.manifest = manifest
        self.source = source
        declared = [i.name for i in session.get_inputs()]
        missing = [n for n in declared if n not in ("input_ids", "attention_mask", "token_type_ids")]
        if missing:
            raise ArtifactError(f"{source} declares graph inputs this runtime cannot feed: {missing}")
        self.encoder = TextEncoder(tokenizer_json, manifest.max_length, manifest.pad_token_id, declared)

    @classmethod
    def load(cls, path: str | os.PathLike[str], threads: int | None = None) -> Classifier:
        """Open an artifact. ``threads`` caps onnxruntime's intra-op threads (default: all cores)."""
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"model file not found: {path}")
        session = _session(path, threads)
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        manifest, tokenizer_json = manifest_from_metadata(metadata, str(path))
        return cls(session, manifest, tokenizer_json, str(path))

    @classmethod
    def from_graph(
        cls, path: str | os.PathLike[str], manifest: Manifest, tokenizer_json: str, threads: int | None = None
    ) -> Classifier:
        """Run a graph that carries no manifest yet (the exporter verifies candidates this way)."""
        return cls(_session(Path(path), threads), manifest, tokenizer_json, str(path))

    @property
    def labels(self) -> list[Label]:
        return list(self.manifest.labels)

    def predict_proba(
        self,
        texts: Sequence[str] | str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> np.ndarray:
        """Class probabilities ``[n_texts, n_labels]`` (``[n_labels]`` for a single string)."""
        if isinstance(texts, str):
            return self.predict_proba([texts], batch_size, max_tokens)[0]
        texts = _checked(texts)
        out = np.empty((len(texts), len(self.manifest.labels)), dtype=np.float32)
        if not texts:
            return out
        encodings = self.encoder.encode(texts)
        for batch in self.encoder.batches(encodings, batch_size, max_tokens):
            out[batch.positions] = self.session.run([OUTPUT_NAME], batch.feeds)[0]
        return out

    @overload
    def predict(self, texts: str) -> Label: ...
    @overload
    def predict(self, texts: Sequence[str]) -> list[Label]: ...
    def predict(self, texts: Sequence[str] | str) -> list[Label] | Label:
        """The most probable label per text (one label for a single string)."""
        proba = self.predict_proba(texts)
        if isinstance(texts, str):
            return self.manifest.labels[int(proba.argmax())]
        return [self.manifest.labels[i] for i in proba.argmax(axis=1)]

    @overload
    def classify(self, texts: str) -> Prediction: ...
    @overload
    def classify(self, texts: Sequence[str]) -> list[Prediction]: ...
    def classify(self, texts: Sequence[str] | str) -> list[Prediction] | Prediction:
        """Label, score and all class scores per text (one `Prediction` for a single string)."""
        if isinstance(texts, str):
            return self.classify([texts])[0]
        return [self._prediction(row) for row in self.predict_proba(texts)]

    __call__ = classify

    def _prediction(self, row: np.ndarray) -> Prediction:
        best = int(row.argmax())
        labels = self.manifest.labels
        return Prediction(labels[best], float(row[best]), {lab: float(p) for lab, p in zip(labels, row)})


def _checked(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text #{i} is {type(text).__name__}, not str")
    return texts
