"""The static encoder: distilled from the tiny random BERT (tests/conftest.py), probed, fine-tuned."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from probe_train.classifier_module import text_encoder
from probe_train.data import load_dataset
from probe_train.encoder import load_encoder
from probe_train.probe import fit_probe_cv, softmax_head
from probe_train.static_encoder import (
    StaticTable,
    distill_static,
    embed_static,
    pca_rotate,
    token_outputs,
    zipf_sif_weights,
)
from probe_train.static_module import StaticClassifier, StaticFinetune, finetune_static


@pytest.fixture(scope="module")
def encoder(tiny_encoder: Path):
    return load_encoder(str(tiny_encoder))


@pytest.fixture(scope="module")
def table(encoder) -> StaticTable:
    return distill_static(encoder, dims=16)


def test_each_row_is_the_encoders_output_for_that_token_alone(encoder) -> None:
    outputs = token_outputs(encoder, batch_size=64)
    token = encoder.tokenizer.convert_tokens_to_ids("good")
    ids = torch.tensor([[encoder.tokenizer.cls_token_id, token, encoder.tokenizer.sep_token_id]])
    with torch.no_grad():
        direct = encoder.model(input_ids=ids, attention_mask=torch.ones_like(ids)).last_hidden_state.mean(1)[0]
    assert outputs.shape == (len(encoder.tokenizer), encoder.hidden_size)
    np.testing.assert_allclose(outputs[token], direct.numpy(), atol=1e-5)


def test_the_table_has_one_row_per_token_id_and_special_tokens_weigh_nothing(encoder, table) -> None:
    assert table.vectors.shape == (len(encoder.tokenizer), 16)
    assert table.vectors.dtype == np.float32 and table.weights.dtype == np.float32
    for token in ("[CLS]", "[SEP]", "[PAD]", "[MASK]"):
        assert table.weights[encoder.tokenizer.convert_tokens_to_ids(token)] == 0
    assert table.weights[encoder.tokenizer.unk_token_id] > 0  # an unknown word is still part of the text
    assert 0 < table.explained_variance <= 1


def test_distilling_twice_gives_the_same_table(encoder, table) -> None:
    again = distill_static(encoder, dims=16)
    np.testing.assert_array_equal(again.vectors, table.vectors)
    np.testing.assert_array_equal(again.weights, table.weights)


def test_pca_at_full_width_is_a_rotation_with_the_largest_variance_first() -> None:
    x = np.random.default_rng(0).normal(size=(200, 8)) * np.arange(1, 9)
    rotated, kept = pca_rotate(x, 8)
    centred = x - x.mean(0)
    np.testing.assert_allclose(rotated @ rotated.T, centred @ centred.T, rtol=1e-4, atol=1e-3)
    assert np.all(np.diff(rotated.var(axis=0)) <= 1e-9)
    assert kept == pytest.approx(1.0)
    assert pca_rotate(x, 3)[1] < 1.0
    with pytest.raises(ValueError, match="1 to 8"):
        pca_rotate(x, 9)


def test_sif_weights_grow_with_rank_and_none_means_no_weighting() -> None:
    weights = zipf_sif_weights(1000, 1e-3)
    assert np.all(np.diff(weights) > 0) and 0 < weights[0] < weights[-1] < 1
    np.testing.assert_array_equal(zipf_sif_weights(5, None), np.ones(5, dtype=np.float32))
    with pytest.raises(ValueError, match="above 0 and below 1"):
        zipf_sif_weights(5, 1.5)


def test_a_text_pools_the_same_alone_and_in_a_batch(encoder, table) -> None:
    tokens = text_encoder(encoder)
    texts = ["the movie was good", "our dinner honestly felt dreadful and hotel was fine", "ok"]
    together = embed_static(table, tokens, texts, normalize=True)
    for i, text in enumerate(texts):
        np.testing.assert_allclose(embed_static(table, tokens, [text], normalize=True)[0], together[i], atol=1e-6)


def test_the_numpy_pooling_is_the_torch_modules(encoder, table) -> None:
    tokens = text_encoder(encoder)
    texts = ["the plot was boring", "that book is really lovely and movie seemed fine"]
    batch = next(tokens.batches(tokens.encode(texts), 8, 10**6))
    module = StaticClassifier(table, n_labels=2)
    with torch.no_grad():
        pooled = module.pooled(*(torch.from_numpy(batch.feeds[k]) for k in ("input_ids", "attention_mask")))
    np.testing.assert_allclose(pooled.numpy(), embed_static(table, tokens, texts)[batch.positions], atol=1e-6)


def test_a_probe_on_the_static_table_learns_the_tiny_task(encoder, table, tiny_data) -> None:
    train, test = (load_dataset(str(p)) for p in tiny_data)
    tokens = text_encoder(encoder)
    model, _ = fit_probe_cv(embed_static(table, tokens, train.texts, True), train.y)
    accuracy = (model.predict(embed_static(table, tokens, test.texts, True)) == test.y).mean()
    assert accuracy >= 0.9


def test_finetuning_keeps_the_best_epoch_and_trains_the_table_only_when_asked(encoder, table, tiny_data) -> None:
    train = load_dataset(str(tiny_data[0]))
    tokens = text_encoder(encoder)
    for train_table in (False, True):
        module = StaticClassifier(table, n_labels=2, normalize=True)
        how = StaticFinetune(epochs=3, learning_rate=1e-2, batch_size=16, train_table=train_table)
        module, figures = finetune_static(module, tokens, train.texts, train.y, how)
        moved = not np.array_equal(module.to_table().vectors, table.vectors)
        assert moved is (train_table and figures["best_epoch"] > 0)
        assert figures["validation_rows"] == 12 and 0.5 <= figures["validation_accuracy"] <= 1
        np.testing.assert_array_equal(module.to_table().weights, table.weights)  # SIF weights never train


def test_the_modules_probabilities_are_the_probes_own(encoder, table, tiny_data) -> None:
    train, test = (load_dataset(str(p)) for p in tiny_data)
    tokens = text_encoder(encoder)
    model, _ = fit_probe_cv(embed_static(table, tokens, train.texts, True), train.y)
    module = StaticClassifier.with_head(table, *softmax_head(model), normalize=True)
    batch = next(tokens.batches(tokens.encode(test.texts), 64, 10**6))
    with torch.no_grad():
        probabilities, _ = module(*(torch.from_numpy(batch.feeds[k]) for k in ("input_ids", "attention_mask")))
    expected = model.predict_proba(embed_static(table, tokens, test.texts, True))[batch.positions]
    np.testing.assert_allclose(probabilities.numpy(), expected, atol=1e-5)
