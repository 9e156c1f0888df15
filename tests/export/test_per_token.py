"""`--quantize int8-per-token`: activations scaled per token, so a text's result does not depend on its batch."""

from __future__ import annotations

from collections import Counter

import numpy as np
import onnx
import pytest
from conftest import synthetic_rows
from probe_export.cli import main
from probe_runtime import Classifier


@pytest.fixture(scope="module")
def per_token_model(tiny_trained, tmp_path_factory):
    out = tmp_path_factory.mktemp("per-token") / "m.onnx"
    args = [
        "export",
        str(tiny_trained),
        "--out",
        str(out),
        "--quantize",
        "int8-per-token",
        "--max-flip-rate",
        "100",
        "--significance",
        "0",
    ]
    assert main(args) == 0
    return out


def _texts() -> list[str]:
    short = [text for text, _ in synthetic_rows(60, seed=5)]
    return short + [" ".join(short[i : i + 6]) for i in range(0, 60, 6)]  # varied lengths, so batches pad


def test_a_texts_probabilities_do_not_depend_on_the_texts_it_is_batched_with(per_token_model):
    clf = Classifier.load(per_token_model, threads=1)
    texts = _texts()
    batched = clf.predict_proba(texts)
    alone = np.stack([clf.predict_proba(text) for text in texts])
    reversed_batch = clf.predict_proba(texts[::-1], max_tokens=64)[::-1]
    np.testing.assert_allclose(alone, batched, atol=1e-5)
    np.testing.assert_allclose(reversed_batch, batched, atol=1e-5)


def test_every_weight_matmul_quantizes_its_input_per_row_and_attention_runs_unfused(per_token_model):
    ops = Counter(node.op_type for node in onnx.load(str(per_token_model)).graph.node)
    assert ops["MatMulIntegerToFloat"] > 0
    assert ops["QuantizeLinear"] == ops["MatMulIntegerToFloat"]  # one per-row quantization per matmul
    assert ops["MatMulInteger"] == 0 and ops["QAttention"] == 0 and ops["Attention"] == 0
    quantize = [n for n in onnx.load(str(per_token_model)).graph.node if n.op_type == "QuantizeLinear"]
    assert all(a.i == 0 for n in quantize for a in n.attribute if a.name == "axis")  # axis 0: rows


def test_it_stays_close_to_fp32_and_is_verified_like_any_int8_file(per_token_model, fp32_model):
    manifest = Classifier.load(per_token_model).manifest
    assert manifest.quantization == "int8-per-token"
    v = manifest.verification
    (candidate,) = v.precision.candidates
    assert candidate.name == "int8-per-token" and candidate.batch_independent is True
    assert candidate.alone_vs_batched_max_abs_diff <= 1e-4
    texts = _texts()
    fp32 = Classifier.load(fp32_model).predict_proba(texts)
    per_token = Classifier.load(per_token_model).predict_proba(texts)
    assert (per_token.argmax(1) == fp32.argmax(1)).mean() >= 0.95
    assert np.abs(per_token - fp32).max() < 0.15  # a wrong scale or zero point would be far off
