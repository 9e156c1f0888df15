"""`probe export` with no flags works on every encoder architecture a user is likely to bring.

For each tiny random encoder of tests/architectures.py (BERT, DistilBERT, RoBERTa, XLM-R, ALBERT, MPNet,
DeBERTa-v2, ModernBERT): `probe train` then `probe export` without flags succeeds, the fp32 graph matched
PyTorch (the export refuses more than 1e-4), the artifact loads in the runtime and classifies, records
the precision `auto` chose, the fused operators and the attention blocks left unfused, and answers a text
the same alone or in a batch.
"""

from __future__ import annotations

import csv

import numpy as np
import pytest
from architectures import ARCHITECTURES, MAX_LENGTH, build_encoder
from conftest import synthetic_rows
from probe_export.cli import main
from probe_runtime import Classifier

# Every attention block of these is fused: by onnxruntime's optimizer (model_type "bert"), MPNet's (relative
# position bias) by probe_export.fusions, ALBERT's first shared layer after its residual Add is reordered.
# DeBERTa-v2 (disentangled attention) and ModernBERT (rotary embeddings) run unfused, and the export says so
# (benchmarks/results/architecture_matrix.md, research/attention_fusion).
FUSES_EVERY_ATTENTION = {"bert", "distilbert", "roberta", "xlm-roberta", "albert", "mpnet"}
LAYERS = 2


@pytest.fixture(scope="module", params=list(ARCHITECTURES))
def exported(request, tiny_data, tmp_path_factory):
    """(architecture, artifact): the tiny encoder trained with `probe train` and exported with no flags."""
    name = request.param
    root = tmp_path_factory.mktemp(name)
    encoder = build_encoder(name, root / "encoder")
    train, test = tiny_data
    args = ["train", str(train), "--test", str(test), "--model", str(encoder), "--out", str(root / "model")]
    assert main(args) == 0
    assert main(["export", str(root / "model"), "--out", str(root / "m.onnx")]) == 0  # no flags at all
    return name, root / "m.onnx"


def _texts() -> list[str]:
    """~30 real-looking texts, one truncated at the full length (the last position ids), one empty-ish."""
    rows = [text for text, _ in synthetic_rows(27, seed=31)]
    return [*rows, "x", "THE HOTEL WAS DREADFUL!!! ünïcödé, 😀", "ok " * (2 * MAX_LENGTH)]


def test_the_default_export_matches_pytorch_and_records_the_precision_auto_chose(exported):
    _, path = exported
    manifest = Classifier.load(path).manifest
    verification = manifest.verification
    assert verification.fp32.max_abs_diff <= 1e-4
    precision = verification.precision
    assert precision.requested == "auto"
    assert precision.chosen == manifest.quantization
    assert precision.candidates[-1].name == precision.chosen and precision.candidates[-1].passed


def test_the_artifact_classifies_the_held_out_texts_as_the_export_measured(exported, tiny_data):
    _, path = exported
    clf = Classifier.load(path)
    with open(tiny_data[1], newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))
    predicted = clf.predict([row["text"] for row in rows])
    accuracy = np.mean([p == row["label"] for p, row in zip(predicted, rows)])
    verification = clf.manifest.verification
    shipped = verification.fp32 if clf.manifest.quantization == "none" else verification.int8
    assert accuracy == pytest.approx(shipped.accuracy)


def test_the_default_file_answers_a_text_the_same_alone_or_in_a_batch(exported):
    _, path = exported
    clf = Classifier.load(path, threads=2)
    texts = _texts()
    batched = clf.predict_proba(texts)
    alone = np.stack([clf.predict_proba(text) for text in texts])
    assert np.abs(alone - batched).max() <= 1e-4


def test_the_fused_operators_are_recorded(exported):
    name, path = exported
    fused = Classifier.load(path).manifest.verification.fused_ops
    assert fused and all(isinstance(n, int) and n > 0 for n in fused.values())
    unfused = Classifier.load(path).manifest.verification.unfused_attention
    if name in FUSES_EVERY_ATTENTION:
        assert fused.get("Attention") == LAYERS and unfused == 0
    else:
        assert unfused == LAYERS - fused.get("Attention", 0) - fused.get("MultiHeadAttention", 0) > 0
