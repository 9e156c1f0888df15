"""A tiny, real multi-label artifact: the tiny encoder's tokenizer, a static table whose dimensions mean something,
a sigmoid head, per-label thresholds and canaries, written through the exporter's one writer.

Built by hand rather than trained so that tests can say what each text must get: dimension 0 fires on positive
words, 1 on negative words, 2 on the word "dinner", and common words weigh little in the mean; the head reads
one dimension per label. So "our dinner was
great" is ``positive`` and ``food``, "the plot was dull" is ``negative`` only, and "the hotel" is nothing.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import onnxruntime as ort
from probe_export.static_graph import STATIC_INPUTS, StaticHead, static_graph, write_static_artifact
from probe_runtime import Classifier
from probe_runtime.artifact import LabelThresholds, Manifest, Task
from probe_runtime.canary import record_canaries
from tokenizers import Tokenizer

LABELS = ["positive", "negative", "food"]
THRESHOLDS = {"positive": 0.5, "negative": 0.5, "food": 0.4}
_POSITIVE = ["good", "great", "lovely", "excellent", "wonderful"]
_NEGATIVE = ["bad", "awful", "terrible", "dreadful", "dull"]
_COMMON = ["the", "hotel", "was", "our", "plot", "and", "felt", "seemed", "is", "really", "honestly"]
_DIMS = 8


def _table(tokenizer: Tokenizer) -> tuple[np.ndarray, np.ndarray]:
    """(vectors ``[vocab, 8]``, token weights ``[vocab]``): small noise, plus the meaning of the marked words."""
    rng = np.random.default_rng(7)
    vectors = rng.normal(scale=0.05, size=(tokenizer.get_vocab_size(), _DIMS)).astype(np.float32)
    for dim, words in enumerate([_POSITIVE, _NEGATIVE, ["dinner"]]):
        for word in words:
            for token in tokenizer.encode(word, add_special_tokens=False).ids:
                vectors[token, dim] = 6.0
    weights = np.ones(len(vectors), dtype=np.float32)
    for word in _COMMON:  # as distillation's frequency weighting does: a word that says nothing weighs little
        for token in tokenizer.encode(word, add_special_tokens=False).ids:
            weights[token] = 0.02
    for special in ("[CLS]", "[SEP]", "[PAD]"):
        weights[tokenizer.token_to_id(special)] = 0.0  # as distillation weighs them: they say nothing
    return vectors, weights


def _head() -> StaticHead:
    weight = np.zeros((len(LABELS), _DIMS), dtype=np.float32)
    weight[[0, 1, 2], [0, 1, 2]] = 1.0
    return StaticHead(weight, np.full(len(LABELS), -1.0, dtype=np.float32), multi_label=True)


def write_multilabel_artifact(encoder_dir: Path, out: Path, int8: bool = True) -> Path:
    """The artifact at ``out`` (its table stored int8 per row by default), with canaries recorded on this machine."""
    tokenizer_json = (encoder_dir / "tokenizer.json").read_text(encoding="utf-8")
    tokenizer = Tokenizer.from_str(tokenizer_json)
    model = static_graph(*_table(tokenizer), _head(), int8=int8)
    manifest = Manifest(
        labels=list(LABELS),
        max_length=64,
        pooling="mean",  # type: ignore[arg-type]  # the str is checked and made the enum
        base_encoder="tiny-bert",
        input_names=list(STATIC_INPUTS),
        pad_token_id=tokenizer.token_to_id("[PAD]"),
        layer=0,
        encoder_layers=0,
        task=Task.MULTI_LABEL,
        thresholds=LabelThresholds(dict(THRESHOLDS), target="f1", chosen_on="hand-set for the tests"),
        created_by="tests/runtime/multilabel_file.py",
    )
    path = write_static_artifact(model, manifest, tokenizer_json, out)
    canaries = record_canaries(Classifier.load(path).predict_proba, ort.__version__)
    return write_static_artifact(model, replace(manifest, canaries=canaries), tokenizer_json, out)
