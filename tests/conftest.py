"""Shared fixtures: a tiny random BERT with its own WordPiece vocabulary, built in the test session.

Nothing is downloaded: the tokenizer is trained on the synthetic corpus below, the weights are
random (seeded), so the whole train → export → run path takes seconds.
"""

from __future__ import annotations

import csv
import random
from pathlib import Path

import pytest

POSITIVE = ["good", "great", "lovely", "excellent", "wonderful", "superb", "delightful", "brilliant"]
NEGATIVE = ["bad", "awful", "terrible", "dreadful", "boring", "poor", "horrible", "dull"]
SUBJECTS = ["the movie", "this film", "the plot", "the acting", "our dinner", "the hotel", "that book"]
FILLER = ["was", "seemed", "felt", "is", "really was", "honestly felt"]


def synthetic_rows(n: int, seed: int) -> list[tuple[str, str]]:
    """Short sentences whose label is carried by one sentiment word: learnable even by random BERT."""
    rng = random.Random(seed)
    rows = []
    for i in range(n):
        label = "pos" if i % 2 == 0 else "neg"
        word = rng.choice(POSITIVE if label == "pos" else NEGATIVE)
        text = f"{rng.choice(SUBJECTS)} {rng.choice(FILLER)} {word}"
        if rng.random() < 0.3:
            text += f" and {rng.choice(SUBJECTS).split()[-1]} {rng.choice(FILLER)} fine"
        rows.append((text, label))
    return rows


def write_csv(path: Path, rows: list[tuple[str, str]], header: tuple[str, str] = ("text", "label")) -> Path:
    with open(path, "w", newline="", encoding="utf-8") as f:
        writer = csv.writer(f)
        writer.writerow(header)
        writer.writerows(rows)
    return path


@pytest.fixture(scope="session", autouse=True)
def _embedding_cache_in_tmp(tmp_path_factory: pytest.TempPathFactory):
    """The embedding cache (`probe train`, `probe layers`) goes to a session directory, never ~/.cache."""
    mp = pytest.MonkeyPatch()
    mp.setenv("PROBE_CACHE", str(tmp_path_factory.mktemp("probe-cache")))
    yield
    mp.undo()


@pytest.fixture(scope="session")
def tiny_encoder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A 2-layer, 32-wide BERT plus a fast WordPiece tokenizer, saved like any Hub model."""
    import torch
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers
    from transformers import BertConfig, BertModel, PreTrainedTokenizerFast

    out = tmp_path_factory.mktemp("tiny-bert")
    specials = ["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"]
    tok = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    corpus = [text for text, _ in synthetic_rows(400, seed=1)] + ["hello world, how are you today?"] * 3
    tok.train_from_iterator(corpus, trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    cls_id, sep_id = tok.token_to_id("[CLS]"), tok.token_to_id("[SEP]")
    tok.post_processor = processors.TemplateProcessing(
        single="[CLS] $A [SEP]",
        pair="[CLS] $A [SEP] $B:1 [SEP]:1",
        special_tokens=[("[CLS]", cls_id), ("[SEP]", sep_id)],
    )
    fast = PreTrainedTokenizerFast(
        tokenizer_object=tok,
        unk_token="[UNK]",
        pad_token="[PAD]",
        cls_token="[CLS]",
        sep_token="[SEP]",
        mask_token="[MASK]",
        model_max_length=64,
    )
    fast.save_pretrained(out)
    config = BertConfig(
        vocab_size=tok.get_vocab_size(),
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=128,
    )
    torch.manual_seed(0)
    BertModel(config).save_pretrained(out)
    return out


@pytest.fixture(scope="session")
def tiny_data(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """(train.csv, test.csv) with string labels pos/neg."""
    root = tmp_path_factory.mktemp("tiny-data")
    return (
        write_csv(root / "train.csv", synthetic_rows(120, seed=2)),
        write_csv(root / "test.csv", synthetic_rows(40, seed=3)),
    )


@pytest.fixture(scope="session")
def tiny_trained(tiny_encoder: Path, tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probe trained on the tiny encoder through the real CLI."""
    from probe_export.cli import main

    out = tmp_path_factory.mktemp("trained") / "tiny"
    train, test = tiny_data
    assert main(["train", str(train), "--test", str(test), "--model", str(tiny_encoder), "--out", str(out)]) == 0
    return out


@pytest.fixture(scope="session")
def tiny_artifacts(tiny_trained: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """The tiny probe exported three times: int8 (per batch), int8 per token (the default precision) and fp32."""
    from probe_export.cli import main

    root = tmp_path_factory.mktemp("artifacts")
    paths = {
        "int8": root / "tiny-int8.onnx",
        "int8-per-token": root / "tiny-int8-per-token.onnx",
        "fp32": root / "tiny-fp32.onnx",
    }
    # Per-batch int8 by name, with the gate opened: tests of the runtime need a quantized file whatever
    # the gate would say about a random 2-layer encoder (tests/export/test_precision.py tests the gate).
    lenient = ["--max-flip-rate", "100", "--significance", "0"]
    assert main(["export", str(tiny_trained), "--out", str(paths["int8"]), "--quantize", "int8", *lenient]) == 0
    per_token = ["--quantize", "int8-per-token", *lenient]
    assert main(["export", str(tiny_trained), "--out", str(paths["int8-per-token"]), *per_token]) == 0
    assert main(["export", str(tiny_trained), "--out", str(paths["fp32"]), "--quantize", "none"]) == 0
    return paths


@pytest.fixture
def int8_model(tiny_artifacts: dict[str, Path]) -> Path:
    return tiny_artifacts["int8"]


@pytest.fixture
def fp32_model(tiny_artifacts: dict[str, Path]) -> Path:
    return tiny_artifacts["fp32"]


@pytest.fixture(scope="session")
def multilabel_model(tiny_encoder: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A tiny real multi-label file (static int8 table, sigmoid head, per-label thresholds, canaries): see
    tests/runtime/multilabel_file.py for what each text must get."""
    from tests.runtime.multilabel_file import write_multilabel_artifact

    return write_multilabel_artifact(tiny_encoder, tmp_path_factory.mktemp("multilabel") / "tiny-multilabel.onnx")
