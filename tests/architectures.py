"""Tiny random encoders of every architecture a user is likely to bring, each with a fast tokenizer of its kind.

Built offline, seeded, 2 layers, hidden 32: the export of each runs in seconds. Each gets the tokenizer
family its real checkpoints ship (WordPiece for BERT/DistilBERT/MPNet, byte-level BPE for RoBERTa and
ModernBERT, a SentencePiece-style Unigram for XLM-R, ALBERT and DeBERTa-v2), the special tokens of that
family, and the model inputs its real tokenizer produces (RoBERTa-style models have no token type ids).
RoBERTa-style position tables (RoBERTa, XLM-R, MPNet) number positions from ``padding_idx + 1``, so
their tables are ``padding_idx + 1`` rows longer than the longest input.

Used by tests/export/test_architectures.py and benchmarks/architecture_matrix.py (which puts ``tests``
on ``sys.path``), so the benchmark measures exactly the encoders the tests cover.
"""

from __future__ import annotations

import random
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = ["ARCHITECTURES", "Architecture", "build_encoder", "corpus"]

MAX_LENGTH = 64
HIDDEN = dict(hidden_size=32, num_hidden_layers=2, num_attention_heads=2, intermediate_size=64)

_POSITIVE = ["good", "great", "lovely", "excellent", "wonderful", "superb", "delightful", "brilliant"]
_NEGATIVE = ["bad", "awful", "terrible", "dreadful", "boring", "poor", "horrible", "dull"]
_SUBJECTS = ["the movie", "this film", "the plot", "the acting", "our dinner", "the hotel", "that book"]


def corpus() -> list[str]:
    """The tokenizer training texts: the words of tests/conftest.py's synthetic rows, plus some others."""
    rng = random.Random(1)
    words = [*_POSITIVE, *_NEGATIVE, "was", "seemed", "felt", "is", "really", "honestly", "and", "fine"]
    texts = [f"{rng.choice(_SUBJECTS)} {' '.join(rng.choices(words, k=3))}" for _ in range(400)]
    return texts + ["hello world, how are you today?", "THE HOTEL WAS DREADFUL!!!", "ok, fine."] * 3


@dataclass(frozen=True)
class Architecture:
    """How to build one tiny encoder: its tokenizer family and its model."""

    name: str
    tokenizer: Callable[[], tuple[Any, dict[str, Any]]]  # () -> (tokenizers.Tokenizer, PreTrainedTokenizerFast kwargs)
    model: Callable[[int, int], Any]  # (vocab size, pad id) -> a transformers PreTrainedModel


def _wordpiece(cls: str, sep: str, pad: str, unk: str, mask: str, pair_types: bool) -> tuple[Any, dict[str, Any]]:
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = [pad, unk, cls, sep, mask] if pad == "[PAD]" else [cls, pad, sep, unk, mask]
    tok = Tokenizer(models.WordPiece(unk_token=unk))
    tok.normalizer = normalizers.BertNormalizer(lowercase=True)
    tok.pre_tokenizer = pre_tokenizers.BertPreTokenizer()
    tok.decoder = decoders.WordPiece()
    tok.train_from_iterator(corpus(), trainers.WordPieceTrainer(vocab_size=300, special_tokens=specials))
    second = f"$B:1 {sep}:1" if pair_types else f"{sep} $B {sep}"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} {second}",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    names = ["input_ids", "token_type_ids", "attention_mask"] if pair_types else ["input_ids", "attention_mask"]
    kwargs = dict(cls_token=cls, sep_token=sep, pad_token=pad, unk_token=unk, mask_token=mask)
    return tok, {**kwargs, "model_input_names": names}


def _byte_bpe(roberta_specials: bool) -> tuple[Any, dict[str, Any]]:
    """RoBERTa's (and ModernBERT's) byte-level BPE; ModernBERT uses BERT's special tokens on it."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers

    if roberta_specials:
        cls, pad, sep, unk, mask = "<s>", "<pad>", "</s>", "<unk>", "<mask>"
    else:
        cls, pad, sep, unk, mask = "[CLS]", "[PAD]", "[SEP]", "[UNK]", "[MASK]"
    tok = Tokenizer(models.BPE(unk_token=None))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=400,
        special_tokens=[cls, pad, sep, unk, mask],
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
    )
    tok.train_from_iterator(corpus(), trainer)
    cls_id, sep_id = tok.token_to_id(cls), tok.token_to_id(sep)
    if roberta_specials:
        tok.post_processor = processors.RobertaProcessing((sep, sep_id), (cls, cls_id), add_prefix_space=False)
    else:
        tok.post_processor = processors.TemplateProcessing(
            single=f"{cls} $A {sep}", pair=f"{cls} $A {sep} $B {sep}", special_tokens=[(cls, cls_id), (sep, sep_id)]
        )
    kwargs = dict(cls_token=cls, sep_token=sep, pad_token=pad, unk_token=unk, mask_token=mask, bos_token=cls)
    return tok, {**kwargs, "eos_token": sep, "model_input_names": ["input_ids", "attention_mask"]}


def _unigram(cls: str, sep: str, pad: str, unk: str, mask: str, pair_types: bool) -> tuple[Any, dict[str, Any]]:
    """SentencePiece-style Unigram with a Metaspace (▁) pre-tokenizer, as XLM-R, ALBERT and DeBERTa-v2 ship."""
    from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, processors, trainers

    specials = [cls, pad, sep, unk, mask] if cls == "<s>" else [pad, unk, cls, sep, mask]
    tok = Tokenizer(models.Unigram())
    tok.normalizer = normalizers.Sequence([normalizers.NFKC(), normalizers.Lowercase()])
    tok.pre_tokenizer = pre_tokenizers.Metaspace()
    tok.decoder = decoders.Metaspace()
    tok.train_from_iterator(corpus(), trainers.UnigramTrainer(vocab_size=300, special_tokens=specials, unk_token=unk))
    second = f"$B:1 {sep}:1" if pair_types else f"{sep} $B {sep}"
    tok.post_processor = processors.TemplateProcessing(
        single=f"{cls} $A {sep}",
        pair=f"{cls} $A {sep} {second}",
        special_tokens=[(cls, tok.token_to_id(cls)), (sep, tok.token_to_id(sep))],
    )
    names = ["input_ids", "token_type_ids", "attention_mask"] if pair_types else ["input_ids", "attention_mask"]
    kwargs = dict(cls_token=cls, sep_token=sep, pad_token=pad, unk_token=unk, mask_token=mask)
    return tok, {**kwargs, "model_input_names": names}


def _roberta_positions(pad_id: int) -> int:
    """Positions run from pad_id + 1 to pad_id + MAX_LENGTH: the table must hold them all."""
    return MAX_LENGTH + pad_id + 1


def _bert(vocab: int, pad: int) -> Any:
    from transformers import BertConfig, BertModel

    return BertModel(BertConfig(vocab_size=vocab, pad_token_id=pad, max_position_embeddings=128, **HIDDEN))


def _distilbert(vocab: int, pad: int) -> Any:
    from transformers import DistilBertConfig, DistilBertModel

    config = DistilBertConfig(vocab_size=vocab, pad_token_id=pad, dim=32, n_layers=2, n_heads=2, hidden_dim=64)
    return DistilBertModel(config)


def _roberta(vocab: int, pad: int) -> Any:
    from transformers import RobertaConfig, RobertaModel

    positions = _roberta_positions(pad)
    config = RobertaConfig(vocab_size=vocab, pad_token_id=pad, max_position_embeddings=positions, **HIDDEN)
    return RobertaModel(config)


def _xlm_roberta(vocab: int, pad: int) -> Any:
    from transformers import XLMRobertaConfig, XLMRobertaModel

    positions = _roberta_positions(pad)
    config = XLMRobertaConfig(vocab_size=vocab, pad_token_id=pad, max_position_embeddings=positions, **HIDDEN)
    return XLMRobertaModel(config)


def _albert(vocab: int, pad: int) -> Any:
    from transformers import AlbertConfig, AlbertModel

    config = AlbertConfig(vocab_size=vocab, pad_token_id=pad, embedding_size=16, max_position_embeddings=128, **HIDDEN)
    return AlbertModel(config)


def _mpnet(vocab: int, pad: int) -> Any:
    from transformers import MPNetConfig, MPNetModel

    config = MPNetConfig(vocab_size=vocab, pad_token_id=pad, max_position_embeddings=_roberta_positions(pad), **HIDDEN)
    return MPNetModel(config)


def _deberta_v2(vocab: int, pad: int) -> Any:
    from transformers import DebertaV2Config, DebertaV2Model

    config = DebertaV2Config(
        vocab_size=vocab,
        pad_token_id=pad,
        max_position_embeddings=128,
        relative_attention=True,
        position_buckets=32,
        pos_att_type=["p2c", "c2p"],
        position_biased_input=False,
        **HIDDEN,
    )
    return DebertaV2Model(config)


def _modernbert(vocab: int, pad: int) -> Any:
    from transformers import ModernBertConfig, ModernBertModel

    config = ModernBertConfig(
        vocab_size=vocab,
        pad_token_id=pad,
        max_position_embeddings=128,
        global_attn_every_n_layers=1,
        local_attention=16,
        **HIDDEN,
    )
    return ModernBertModel(config)


def _bert_wordpiece() -> tuple[Any, dict[str, Any]]:
    return _wordpiece("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", pair_types=True)


def _distilbert_wordpiece() -> tuple[Any, dict[str, Any]]:
    return _wordpiece("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", pair_types=False)


def _mpnet_wordpiece() -> tuple[Any, dict[str, Any]]:
    return _wordpiece("<s>", "</s>", "<pad>", "[UNK]", "<mask>", pair_types=False)


def _sentencepiece_xlmr() -> tuple[Any, dict[str, Any]]:
    return _unigram("<s>", "</s>", "<pad>", "<unk>", "<mask>", pair_types=False)


def _sentencepiece_bert() -> tuple[Any, dict[str, Any]]:
    return _unigram("[CLS]", "[SEP]", "<pad>", "<unk>", "[MASK]", pair_types=True)


def _sentencepiece_deberta() -> tuple[Any, dict[str, Any]]:
    return _unigram("[CLS]", "[SEP]", "[PAD]", "[UNK]", "[MASK]", pair_types=True)


ARCHITECTURES: dict[str, Architecture] = {
    a.name: a
    for a in [
        Architecture("bert", _bert_wordpiece, _bert),
        Architecture("distilbert", _distilbert_wordpiece, _distilbert),
        Architecture("roberta", lambda: _byte_bpe(roberta_specials=True), _roberta),
        Architecture("xlm-roberta", _sentencepiece_xlmr, _xlm_roberta),
        Architecture("albert", _sentencepiece_bert, _albert),
        Architecture("mpnet", _mpnet_wordpiece, _mpnet),
        Architecture("deberta-v2", _sentencepiece_deberta, _deberta_v2),
        Architecture("modernbert", lambda: _byte_bpe(roberta_specials=False), _modernbert),
    ]
}


def build_encoder(name: str, out: Path) -> Path:
    """Save the tiny ``name`` encoder and its fast tokenizer in ``out``, like any Hub model folder."""
    import torch
    from transformers import PreTrainedTokenizerFast

    tok, kwargs = ARCHITECTURES[name].tokenizer()
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, model_max_length=MAX_LENGTH, **kwargs)
    fast.save_pretrained(out)
    torch.manual_seed(0)
    ARCHITECTURES[name].model(tok.get_vocab_size(), fast.pad_token_id).save_pretrained(out)
    return out
