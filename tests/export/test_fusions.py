"""Attention fusions beyond onnxruntime's BERT ones (`probe_export.fusions`) and the unfused-attention warning.

On the tiny random encoders of tests/architectures.py: MPNet's attention with its relative position bias
becomes one fused ``Attention`` per layer with an ``attention_bias``, equal to PyTorch in fp32; both int8
precisions keep that bias (on ``MultiHeadAttention``; ``QAttention`` has no such input) and per-token int8
stays batch-independent; ALBERT's two shared-weight layers are both fused; an architecture whose attention
stays unfused gets one warning line from `probe export`.
"""

from __future__ import annotations

import logging
from collections import Counter
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from architectures import build_encoder
from probe_export.cli import main
from probe_export.graph import export_onnx, optimize, quantize_int8, unfused_attention_warning
from probe_export.module import build_module
from probe_export.rowwise import unfuse_attention
from probe_train.model_dir import load_trained

LAYERS = 2
HEADS, HIDDEN = 2, 32


def _trained(name: str, root: Path, tiny_data: tuple[Path, Path]) -> Path:
    encoder = build_encoder(name, root / "encoder")
    train, test = tiny_data
    args = ["train", str(train), "--test", str(test), "--model", str(encoder), "--out", str(root / "model")]
    assert main(args) == 0
    return root / "model"


def _batch(rng: np.random.Generator, vocab: int, pad: int, batch: int, length: int) -> dict[str, np.ndarray]:
    """Random ids, right-padded to ``length`` with texts of varied lengths (at least 2 tokens)."""
    ids = rng.integers(5, vocab, (batch, length))
    mask = np.ones((batch, length), np.int64)
    for row in range(batch):
        n = int(rng.integers(2, length + 1))
        mask[row, n:], ids[row, n:] = 0, pad
    return {"input_ids": ids, "attention_mask": mask}


@pytest.fixture(scope="module")
def mpnet(tiny_data, tmp_path_factory):
    """(PyTorch module, encoder, raw graph, fused fp32 graph, fused-op counts) of a tiny MPNet probe."""
    root = tmp_path_factory.mktemp("mpnet-fusion")
    module, encoder = build_module(load_trained(_trained("mpnet", root, tiny_data)))
    sample = {k: torch.from_numpy(v) for k, v in _batch(np.random.default_rng(0), 100, 1, 2, 7).items()}
    export_onnx(module, sample, root / "raw.onnx")
    stats = optimize(root / "raw.onnx", root / "fp32.onnx", HEADS, HIDDEN, model_type="mpnet", layers=LAYERS)
    return module, encoder, root / "raw.onnx", root / "fp32.onnx", stats


def _run(path: Path, feeds: dict[str, np.ndarray]) -> np.ndarray:
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    return np.asarray(session.run(None, {i.name: feeds[i.name] for i in session.get_inputs()})[0])


def _feeds(encoder, seed: int) -> list[dict[str, np.ndarray]]:
    rng = np.random.default_rng(seed)
    vocab, pad = len(encoder.tokenizer), int(encoder.tokenizer.pad_token_id)
    return [_batch(rng, vocab, pad, b, s) for b, s in ((1, 4), (5, 19), (8, 64))]


def test_mpnet_attention_is_fused_once_per_layer_with_its_position_bias(mpnet):
    _, _, _, fused, stats = mpnet
    assert stats.get("Attention") == LAYERS
    nodes = [n for n in onnx.load(str(fused)).graph.node if n.op_type == "Attention"]
    assert len(nodes) == LAYERS
    biases = {n.input[5] for n in nodes if len(n.input) > 5 and n.input[5]}
    assert len(biases) == 1  # every layer reads the one position bias, computed once
    assert not [n for n in onnx.load(str(fused)).graph.node if n.op_type == "Softmax" and "encoder" in n.name]


def test_the_fused_mpnet_graph_equals_pytorch_in_fp32(mpnet):
    module, encoder, raw, fused, _ = mpnet
    for feeds in _feeds(encoder, seed=1):
        with torch.no_grad():
            reference = module(**{k: torch.from_numpy(v) for k, v in feeds.items()})[0].numpy()
        assert np.abs(_run(fused, feeds) - reference).max() <= 1e-4
        assert np.abs(_run(fused, feeds) - _run(raw, feeds)).max() <= 1e-5


def test_unfusing_keeps_the_position_bias_on_multi_head_attention_exactly(mpnet, tmp_path):
    _, encoder, _, fused, _ = mpnet
    assert unfuse_attention(fused, tmp_path / "mha.onnx") == LAYERS
    nodes = [n for n in onnx.load(str(tmp_path / "mha.onnx")).graph.node if n.op_type == "MultiHeadAttention"]
    assert len(nodes) == LAYERS and all(len(n.input) == 6 and n.input[5] for n in nodes)
    for feeds in _feeds(encoder, seed=2):
        assert np.abs(_run(tmp_path / "mha.onnx", feeds) - _run(fused, feeds)).max() <= 1e-5


@pytest.mark.parametrize("per_token", [True, False], ids=["int8-per-token", "int8"])
def test_both_int8_precisions_quantize_the_qkv_matmul_and_keep_the_bias(mpnet, tmp_path, per_token):
    _, encoder, _, fused, _ = mpnet
    quantize_int8(fused, tmp_path / "q.onnx", per_token=per_token)
    graph = onnx.load(str(tmp_path / "q.onnx")).graph
    ops = Counter(n.op_type for n in graph.node)
    assert ops["MultiHeadAttention"] == LAYERS and ops["QAttention"] == 0 and ops["Attention"] == 0
    assert all(len(n.input) == 6 and n.input[5] for n in graph.node if n.op_type == "MultiHeadAttention")
    producer = {o: n for n in graph.node for o in n.output}
    quantized = "MatMulIntegerToFloat" if per_token else "MatMulInteger"
    for mha in (n for n in graph.node if n.op_type == "MultiHeadAttention"):
        split = producer[mha.input[0]]
        assert split.op_type == "Split"
        chain = [producer[split.input[0]]]  # the packed QKV projection runs in int8: per batch, -> Cast -> Mul
        while chain[-1].op_type in ("Cast", "Mul") and len(chain) < 3:
            chain.append(producer[chain[-1].input[0]])
        assert chain[-1].op_type == quantized
    for feeds in _feeds(encoder, seed=3):
        assert np.abs(_run(tmp_path / "q.onnx", feeds) - _run(fused, feeds)).max() <= 0.2  # int8, not garbage


def test_per_token_int8_mpnet_answers_a_text_the_same_alone_or_batched(mpnet, tmp_path):
    _, encoder, _, fused, _ = mpnet
    quantize_int8(fused, tmp_path / "q.onnx", per_token=True)
    for feeds in _feeds(encoder, seed=4):
        batched = _run(tmp_path / "q.onnx", feeds)
        lengths = feeds["attention_mask"].sum(1)
        rows = [{k: v[i : i + 1, : lengths[i]] for k, v in feeds.items()} for i in range(len(lengths))]
        alone = np.concatenate([_run(tmp_path / "q.onnx", row) for row in rows])
        assert np.abs(alone - batched).max() <= 1e-5


def test_albert_fuses_both_shared_weight_layers(tiny_data, tmp_path):
    module, _ = build_module(load_trained(_trained("albert", tmp_path, tiny_data)))
    feeds = _batch(np.random.default_rng(0), 60, 0, 2, 7)
    feeds["token_type_ids"] = np.zeros_like(feeds["input_ids"])
    export_onnx(module, {k: torch.from_numpy(v) for k, v in feeds.items()}, tmp_path / "raw.onnx")
    stats = optimize(tmp_path / "raw.onnx", tmp_path / "fp32.onnx", HEADS, HIDDEN, model_type="albert", layers=LAYERS)
    assert stats.get("Attention") == LAYERS
    assert np.abs(_run(tmp_path / "fp32.onnx", feeds) - _run(tmp_path / "raw.onnx", feeds)).max() <= 1e-5


def test_the_warning_names_partial_and_missing_fusion_and_is_silent_when_all_is_fused():
    partial = unfused_attention_warning("albert", {"Attention": 1}, 2)
    assert partial is not None and "attention fused in 1 of 2 shared-weight layers" in partial
    missing = unfused_attention_warning("deberta-v2", {"LayerNormalization": 5}, 12)
    assert missing is not None and "left unfused in all 12 layers" in missing and "2.5x the CPU time" in missing
    other = unfused_attention_warning("funnel", {}, 4)
    assert other is not None and "left unfused in all 4 layers" in other and "x the CPU time per text" in other
    assert unfused_attention_warning("bert", {"Attention": 6}, 6) is None
    assert unfused_attention_warning("bert", {}, 0) is None  # a probe on the embeddings has no attention


def test_probe_export_warns_in_one_line_and_records_it_when_attention_stays_unfused(tiny_data, tmp_path, caplog):
    model = _trained("modernbert", tmp_path, tiny_data)
    with caplog.at_level(logging.WARNING, logger="probe_export.graph"):
        assert main(["export", str(model), "--out", str(tmp_path / "m.onnx")]) == 0
    warnings = [r for r in caplog.records if r.name == "probe_export.graph"]
    assert len(warnings) == 1 and "\n" not in warnings[0].getMessage()
    assert "modernbert: attention left unfused in all 2 layers" in warnings[0].getMessage()
    from probe_runtime import Classifier

    assert Classifier.load(tmp_path / "m.onnx").manifest.verification.unfused_attention == LAYERS
