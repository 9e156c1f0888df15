"""The static classifier's ONNX graph, and its one-file artifact as the runtime loads it (phase 1 of issue 32)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnxruntime as ort
import pytest
import torch
from probe_export.static_graph import STATIC_INPUTS, StaticHead, int8_rows, static_graph, write_static_artifact
from probe_runtime import Classifier
from probe_runtime.artifact import EMBEDDINGS_NAME, INPUT_NAMES, OUTPUT_NAME, Manifest
from probe_train.classifier_module import text_encoder
from probe_train.data import load_dataset
from probe_train.encoder import load_encoder, pad_token_id, tokenizer_json
from probe_train.probe import fit_probe_cv, softmax_head
from probe_train.static_encoder import distill_static, embed_static
from probe_train.static_module import StaticClassifier

TEXTS = ["the movie was good", "our dinner honestly felt dreadful and hotel was fine", "ok", "THE HOTEL!!!", "?"]


@pytest.fixture(scope="module")
def trained(tiny_encoder: Path, tiny_data: tuple[Path, Path]):
    """(encoder, module): a probe on the tiny encoder's static table, calibrated to a temperature of 1.5."""
    encoder = load_encoder(str(tiny_encoder))
    table = distill_static(encoder, dims=16)
    train = load_dataset(str(tiny_data[0]))
    model, _ = fit_probe_cv(embed_static(table, text_encoder(encoder), train.texts, True), train.y)
    module = StaticClassifier.with_head(table, *softmax_head(model), normalize=True)
    module.temperature = 1.5
    return encoder, module, train.labels


def _graph(module: StaticClassifier, int8: bool = False):
    table = module.to_table()
    weight, bias = module.head_arrays()
    return static_graph(table.vectors, table.weights, StaticHead(weight, bias, True, module.temperature), int8)


def _reference(encoder, module: StaticClassifier, texts: list[str]) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    tokens = text_encoder(encoder)
    batch = next(tokens.batches(tokens.encode(texts), 64, 10**6))
    feeds = {k: batch.feeds[k] for k in STATIC_INPUTS}
    with torch.no_grad():
        probabilities, _ = module(**{k: torch.from_numpy(v) for k, v in feeds.items()})
    out = np.empty_like(probabilities.numpy())
    out[batch.positions] = probabilities.numpy()
    return out, feeds


def test_the_graph_has_the_transformer_artifacts_inputs_and_outputs(trained) -> None:
    model = _graph(trained[1])
    assert [i.name for i in model.graph.input] == STATIC_INPUTS and set(STATIC_INPUTS) <= set(INPUT_NAMES)
    assert [o.name for o in model.graph.output] == [OUTPUT_NAME, EMBEDDINGS_NAME]


def test_the_fp32_graph_computes_what_the_torch_module_does(trained) -> None:
    encoder, module, _ = trained
    reference, feeds = _reference(encoder, module, TEXTS)
    session = ort.InferenceSession(_graph(module).SerializeToString(), providers=["CPUExecutionProvider"])
    probabilities = session.run([OUTPUT_NAME], feeds)[0]
    tokens = text_encoder(encoder)
    positions = next(tokens.batches(tokens.encode(TEXTS), 64, 10**6)).positions
    np.testing.assert_allclose(probabilities, reference[positions], atol=1e-6)


def test_a_text_of_special_tokens_only_pools_to_zero_not_nan(trained) -> None:
    encoder, module, _ = trained
    session = ort.InferenceSession(_graph(module).SerializeToString(), providers=["CPUExecutionProvider"])
    ids = np.array([[encoder.tokenizer.cls_token_id, encoder.tokenizer.sep_token_id]], dtype=np.int64)
    probabilities, embeddings = session.run(None, {"input_ids": ids, "attention_mask": np.ones_like(ids)})
    np.testing.assert_array_equal(embeddings, 0)
    logits = module.head_arrays()[1] / module.temperature
    np.testing.assert_allclose(probabilities[0], np.exp(logits) / np.exp(logits).sum(), atol=1e-6)


def test_int8_rows_reconstruct_each_row_within_half_a_step() -> None:
    vectors = np.random.default_rng(0).normal(size=(50, 16)).astype(np.float32)
    vectors[3] = 0
    q, scale = int8_rows(vectors)
    assert q.dtype == np.int8 and scale.dtype == np.float32 and np.all(np.isfinite(scale))
    assert np.all(np.abs(q.astype(np.float32) * scale[:, None] - vectors) <= scale[:, None] / 2 + 1e-7)
    np.testing.assert_array_equal(q[3], 0)


def test_the_int8_table_stores_a_byte_per_value_plus_a_scale_per_row_and_keeps_the_answers(trained) -> None:
    encoder, module, _ = trained
    fp32, int8 = _graph(module), _graph(module, int8=True)
    vocab, dims = module.to_table().vectors.shape
    saved = len(fp32.SerializeToString()) - len(int8.SerializeToString())
    # 4 -> 1 byte a value, 4 bytes a row for its scale; the rest is the three extra nodes (~80 bytes)
    assert saved == pytest.approx(vocab * dims * 3 - vocab * 4, abs=200)
    reference, feeds = _reference(encoder, module, TEXTS)
    session = ort.InferenceSession(int8.SerializeToString(), providers=["CPUExecutionProvider"])
    tokens = text_encoder(encoder)
    positions = next(tokens.batches(tokens.encode(TEXTS), 64, 10**6)).positions
    probabilities = session.run([OUTPUT_NAME], feeds)[0]
    assert np.abs(probabilities - reference[positions]).max() < 0.02
    np.testing.assert_array_equal(probabilities.argmax(1), reference[positions].argmax(1))


@pytest.mark.parametrize("int8", [False, True], ids=["fp32", "int8-table"])
def test_the_artifact_loads_in_the_runtime_and_classifies_like_the_module(trained, tmp_path: Path, int8) -> None:
    encoder, module, labels = trained
    manifest = Manifest(
        labels=list(labels),
        max_length=encoder.max_length,
        pooling="mean",
        base_encoder=encoder.name,
        input_names=list(STATIC_INPUTS),
        pad_token_id=pad_token_id(encoder),
        layer=0,
        encoder_layers=0,
        temperature=module.temperature,
        created_by="probe static (phase 1 test)",
    )
    path = write_static_artifact(_graph(module, int8), manifest, tokenizer_json(encoder), tmp_path / "static.onnx")
    classifier = Classifier.load(path)
    # The writer records what the graph is: its precision (an int8 table is neither per-batch int8 nor fp32)
    # and the static encoder's size, distilled from the manifest's base encoder
    assert classifier.manifest.quantization == ("int8-table" if int8 else "none")
    assert classifier.manifest.encoder is not None and classifier.manifest.encoder.kind == "static"
    assert (classifier.manifest.encoder.dims, classifier.manifest.encoder.distilled_from) == (16, encoder.name)
    reference, _ = _reference(encoder, module, TEXTS)
    batched = classifier.predict_proba(TEXTS)
    np.testing.assert_allclose(batched, reference, atol=0.02 if int8 else 1e-6)
    alone = np.vstack([classifier.predict_proba([text]) for text in TEXTS])
    np.testing.assert_array_equal(alone, batched)  # the same answer alone or batched: no int8 arithmetic
    assert classifier.predict(TEXTS) == [labels[i] for i in reference.argmax(1)]
    assert classifier.embed(TEXTS).shape == (len(TEXTS), 16)
