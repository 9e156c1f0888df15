"""The embedding cache: a second run reuses the vectors, and any change to what they depend on misses."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from probe_train.embedding_cache import EmbeddingCache, default_cache_dir
from probe_train.embeddings import embed_texts, layer_embeddings
from probe_train.encoder import load_encoder

TEXTS = ["the movie was good", "this film seemed awful", "the plot is dull", "our dinner was great and fine"]


@pytest.fixture
def encoder(tiny_encoder):
    return load_encoder(str(tiny_encoder))


def _entries(cache: EmbeddingCache) -> list:
    return sorted((cache.root / "embeddings").glob("*.npy"))


def test_a_second_embedding_is_read_from_the_cache_and_equals_the_first(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    first = embed_texts(encoder, TEXTS, "mean", -1, show_progress=False, cache=cache)
    assert (cache.hits, cache.misses) == (0, 1) and len(_entries(cache)) == 1
    second = embed_texts(encoder, TEXTS, "mean", -1, show_progress=False, cache=cache)
    assert (cache.hits, cache.misses) == (1, 1) and len(_entries(cache)) == 1
    np.testing.assert_array_equal(first, second)
    np.testing.assert_allclose(first, embed_texts(encoder, TEXTS, "mean", -1, show_progress=False), atol=1e-6)


def test_the_entry_is_a_plain_npy_with_a_description_beside_it(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    embed_texts(encoder, TEXTS, "cls", 1, show_progress=False, cache=cache)
    (entry,) = _entries(cache)
    assert np.load(entry, allow_pickle=False).shape == (len(TEXTS), encoder.hidden_size)
    key = json.loads(entry.with_suffix(".json").read_text())
    assert key["pooling"] == "cls" and key["layer"] == 1 and key["max_length"] == encoder.max_length
    assert not list(entry.parent.glob("*.partial"))  # written atomically: no leftovers


def test_the_last_layer_by_negative_index_and_by_number_share_an_entry(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    embed_texts(encoder, TEXTS, "mean", -1, show_progress=False, cache=cache)
    embed_texts(encoder, TEXTS, "mean", 2, show_progress=False, cache=cache)
    assert cache.hits == 1 and len(_entries(cache)) == 1


def test_changing_data_max_length_pooling_or_layer_misses(tiny_encoder, encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    embed_texts(encoder, TEXTS, "mean", -1, show_progress=False, cache=cache)
    embed_texts(encoder, [*TEXTS[:-1], "our dinner was great"], "mean", -1, show_progress=False, cache=cache)
    embed_texts(load_encoder(str(tiny_encoder), 4), TEXTS, "mean", -1, show_progress=False, cache=cache)
    embed_texts(encoder, TEXTS, "max", -1, show_progress=False, cache=cache)
    embed_texts(encoder, TEXTS, "mean", 1, show_progress=False, cache=cache)
    assert cache.hits == 0 and cache.misses == 5 and len(_entries(cache)) == 5


def test_changing_the_encoder_weights_misses(tiny_encoder, encoder, tmp_path):
    cache = EmbeddingCache(tmp_path / "cache")
    before = embed_texts(encoder, TEXTS, "mean", -1, show_progress=False, cache=cache)
    changed = load_encoder(str(tiny_encoder))
    with torch.no_grad():
        changed.model.encoder.layer[1].output.LayerNorm.bias += 1.0
    changed.model.save_pretrained(tmp_path / "edited")
    changed.tokenizer.save_pretrained(tmp_path / "edited")
    after = embed_texts(load_encoder(str(tmp_path / "edited")), TEXTS, "mean", -1, show_progress=False, cache=cache)
    assert cache.misses == 2 and len(_entries(cache)) == 2
    assert not np.allclose(before, after)


def test_a_damaged_entry_is_a_miss_and_is_written_again(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    good = embed_texts(encoder, TEXTS, "mean", -1, show_progress=False, cache=cache)
    (entry,) = _entries(cache)
    entry.write_bytes(b"not an npy file")
    again = embed_texts(encoder, TEXTS, "mean", -1, show_progress=False, cache=cache)
    assert cache.misses == 2
    np.testing.assert_array_equal(good, again)
    np.testing.assert_array_equal(np.load(entry, allow_pickle=False), good)


def test_one_pass_fills_every_layer_and_pooling_then_all_are_hits(encoder, tmp_path):
    cache = EmbeddingCache(tmp_path)
    layer_embeddings(encoder, TEXTS, [0, 1, 2], ["cls", "mean", "max"], cache=cache)
    assert cache.misses == 9 and len(_entries(cache)) == 9
    layer_embeddings(encoder, TEXTS, [0, 1, -1], ["cls", "mean", "max"], cache=cache)
    assert cache.hits == 9


def test_the_location_is_probe_cache_else_the_users_cache_folder(monkeypatch, tmp_path):
    monkeypatch.setenv("PROBE_CACHE", str(tmp_path))
    assert default_cache_dir() == tmp_path
    monkeypatch.delenv("PROBE_CACHE")
    assert default_cache_dir().parts[-2:] == (".cache", "probe")


def test_probe_train_fills_the_cache_and_no_cache_leaves_it_alone(tiny_encoder, tiny_data, tmp_path, monkeypatch):
    from probe_export.cli import main

    monkeypatch.setenv("PROBE_CACHE", str(tmp_path / "cache"))
    train, test = (str(p) for p in tiny_data)
    args = ["train", train, "--test", test, "--model", str(tiny_encoder)]
    assert main([*args, "--out", str(tmp_path / "a"), "--no-cache"]) == 0
    assert not (tmp_path / "cache").exists()
    assert main([*args, "--out", str(tmp_path / "b")]) == 0
    assert len(_entries(EmbeddingCache(tmp_path / "cache"))) == 2  # training and test texts
    assert main([*args, "--out", str(tmp_path / "c")]) == 0  # from the cache: the same model
    a, b, c = (np.load(tmp_path / d / "head.npz")["weight"] for d in "abc")
    np.testing.assert_allclose(a, b, atol=1e-5)
    np.testing.assert_array_equal(b, c)
