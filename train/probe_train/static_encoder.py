"""A static encoder distilled from a transformer: one vector per vocabulary token, no attention at run time.

The layer sweep found that a probe on layer 0 (token embeddings, mean-pooled) is as good as the full encoder
on some tasks and 23-37x faster. Model2Vec's recipe does better than layer 0 at the same cost: each
vocabulary token is run through the *whole* encoder on its own (``[CLS] token [SEP]``, mean-pooled like the
sentence encoder pools), the table is rotated by PCA (and optionally cut to fewer dimensions), and each row
is down-weighted by how frequent its token is (SIF, ``a / (a + p(token))``, with p from Zipf's law over the
vocabulary's order, which for WordPiece/BPE vocabularies roughly follows frequency).

Why our own distillation and not ``model2vec.distill`` (benchmarks/static_report.py measures both):
- the table is indexed by the encoder's OWN token ids, so the artifact keeps the encoder's tokenizer JSON
  byte for byte and the runtime tokenizes exactly as for the transformer file; model2vec rebuilds the
  tokenizer (skeletoken: vocabulary cleaned, post-processor removed, prefix space forced), which the runtime
  would have to learn to feed;
- ``model2vec[distill]`` pins ``transformers<5.4`` and pulls skeletoken and pydantic; ours is ~100 lines
  of NumPy on the encoder probe already loads (`probe_train.encoder.load_encoder`, which refuses remote code);
- weights are kept as a separate per-token vector, so special tokens ([CLS], [SEP], [PAD]) get weight 0
  and the pooled vector is a true weighted mean over the mask: the runtime's ids go in unchanged.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from probe_runtime.batching import TextEncoder
from tqdm.auto import tqdm

from .encoder import Encoder
from .pooling import l2_normalize

__all__ = [
    "DEFAULT_DIMS",
    "DEFAULT_SIF",
    "StaticTable",
    "distill_static",
    "embed_static",
    "pca_rotate",
    "pool_static",
    "token_outputs",
    "zipf_sif_weights",
]

# Model2Vec's defaults (potion/M2V models): 256 PCA dimensions, SIF coefficient 1e-4.
DEFAULT_DIMS = 256
DEFAULT_SIF = 1e-4
_EPS = 1e-9  # the pooling denominator's floor: a text of special tokens only pools to the zero vector


@dataclass(frozen=True)
class StaticTable:
    """The distilled encoder: ``vectors[token_id]`` (float32 ``[vocab, dims]``) and ``weights[token_id]``
    (float32 ``[vocab]``: SIF weight, 0 for special tokens), for the tokenizer of ``encoder``."""

    vectors: np.ndarray
    weights: np.ndarray
    encoder: str
    sif: float | None
    explained_variance: float  # share of the token outputs' variance the kept PCA dimensions hold

    def __post_init__(self) -> None:
        if self.vectors.ndim != 2 or self.weights.shape != (self.vectors.shape[0],):
            raise ValueError(
                f"a static table needs vectors [vocab, dims] and weights [vocab], not "
                f"{self.vectors.shape} and {self.weights.shape}"
            )

    @property
    def dims(self) -> int:
        return int(self.vectors.shape[1])

    @property
    def vocab_size(self) -> int:
        return int(self.vectors.shape[0])


def _special_ids(encoder: Encoder) -> list[int]:
    """Ids the tokenizer adds itself ([CLS], [SEP], [PAD], <s>, ...): they carry no meaning of the text."""
    tokenizer = encoder.tokenizer
    ids = {tokenizer.convert_tokens_to_ids(t) for t in tokenizer.all_special_tokens}
    ids.discard(getattr(tokenizer, "unk_token_id", None))  # an unknown word is still a word of the text
    return sorted(i for i in ids if isinstance(i, int) and i >= 0)


def _one_token_template(encoder: Encoder) -> tuple[torch.Tensor, int]:
    """The ids the tokenizer makes of a one-token text, and where that token sits among its special tokens."""
    tokenizer = encoder.tokenizer
    plain = tokenizer.encode("the", add_special_tokens=False)
    wrapped = tokenizer.encode("the", add_special_tokens=True)
    if len(plain) != 1 or wrapped.count(plain[0]) != 1:
        raise ValueError(f"cannot find where the tokenizer of {encoder.name!r} puts a one-token text: {wrapped}")
    return torch.tensor(wrapped, dtype=torch.long), wrapped.index(plain[0])


def token_outputs(encoder: Encoder, batch_size: int = 256, show_progress: bool = False) -> np.ndarray:
    """The encoder's mean-pooled last hidden state for every vocabulary id alone, float32 ``[vocab, hidden]``.

    Each id is wrapped in the special tokens the tokenizer adds to a one-token text (``[CLS] t [SEP]`` for
    BERT, ``<s> t </s>`` for RoBERTa), as Model2Vec does; all sequences have the same length, so no padding
    and no mask subtleties.
    """
    tokenizer = encoder.tokenizer
    vocab = len(tokenizer)
    template, at = _one_token_template(encoder)
    out = np.empty((vocab, encoder.hidden_size), dtype=np.float32)
    model = encoder.model.eval()
    with torch.inference_mode(), tqdm(total=vocab, desc="distilling", disable=not show_progress) as bar:
        for start in range(0, vocab, batch_size):
            ids = torch.arange(start, min(start + batch_size, vocab), dtype=torch.long)
            batch = template.repeat(len(ids), 1)
            batch[:, at] = ids
            feeds = {"input_ids": batch, "attention_mask": torch.ones_like(batch)}
            if "token_type_ids" in encoder.input_names:
                feeds["token_type_ids"] = torch.zeros_like(batch)
            out[start : start + len(ids)] = model(**feeds).last_hidden_state.mean(dim=1).float().numpy()
            bar.update(len(ids))
    return out


def pca_rotate(x: np.ndarray, dims: int) -> tuple[np.ndarray, float]:
    """``x`` centred and projected on its first ``dims`` principal axes (float32), and the variance share kept.

    An eigendecomposition of the ``[hidden, hidden]`` covariance (hidden is a few hundred): exact, and the sign
    of each axis is fixed (largest |score| positive) so the same encoder always distils to the same table.
    """
    if not 1 <= dims <= x.shape[1]:
        raise ValueError(f"PCA dimensions must be 1 to {x.shape[1]}, not {dims}")
    centred = x.astype(np.float64) - x.mean(axis=0)
    values, axes = np.linalg.eigh(centred.T @ centred / max(len(x) - 1, 1))
    order = np.argsort(values)[::-1][:dims]
    scores = centred @ axes[:, order]
    signs = np.sign(scores[np.abs(scores).argmax(axis=0), np.arange(dims)])
    kept = float(np.clip(values[order], 0, None).sum() / max(np.clip(values, 0, None).sum(), 1e-30))
    return (scores * np.where(signs == 0, 1, signs)).astype(np.float32), kept


def zipf_sif_weights(vocab: int, coefficient: float | None = DEFAULT_SIF) -> np.ndarray:
    """SIF weights ``a / (a + p)`` with p(rank) ∝ 1 / (rank + 1) over the vocabulary order (Zipf), float32.

    None: every token weighs 1. Frequent tokens ("the", ",") get weights near 0, rare ones near 1.
    """
    if coefficient is None:
        return np.ones(vocab, dtype=np.float32)
    if not 0 < coefficient < 1:
        raise ValueError(f"the SIF coefficient must be above 0 and below 1, not {coefficient}")
    inverse_rank = 1.0 / np.arange(2, vocab + 2, dtype=np.float64)
    p = inverse_rank / inverse_rank.sum()
    return (coefficient / (coefficient + p)).astype(np.float32)


def distill_static(
    encoder: Encoder,
    dims: int = DEFAULT_DIMS,
    sif: float | None = DEFAULT_SIF,
    batch_size: int = 256,
    show_progress: bool = False,
) -> StaticTable:
    """Distil ``encoder`` into a `StaticTable` (see the module doc): token outputs → PCA → SIF weights."""
    outputs = token_outputs(encoder, batch_size, show_progress)
    vectors, kept = pca_rotate(outputs, min(dims, outputs.shape[1]))
    weights = zipf_sif_weights(len(vectors), sif)
    weights[_special_ids(encoder)] = 0.0
    return StaticTable(vectors, weights, encoder.name, sif, kept)


def pool_static(
    vectors: np.ndarray, weights: np.ndarray, input_ids: np.ndarray, attention_mask: np.ndarray
) -> np.ndarray:
    """The NumPy reference of the graph's pooling: sum_t m_t w_t v_t / max(sum_t m_t w_t, eps), float32."""
    w = weights[input_ids] * attention_mask.astype(np.float32)
    total = np.einsum("bs,bsd->bd", w, vectors[input_ids].astype(np.float32))
    return (total / np.maximum(w.sum(axis=1, keepdims=True), _EPS)).astype(np.float32)


def embed_static(
    table: StaticTable, tokens: TextEncoder, texts: Sequence[str], normalize: bool = False, batch_size: int = 1024
) -> np.ndarray:
    """Pooled static vectors of ``texts`` (float32 ``[n, dims]``, input order), tokenized by the runtime's own
    `TextEncoder`, so training reads exactly the ids the artifact will."""
    out = np.empty((len(texts), table.dims), dtype=np.float32)
    for batch in tokens.batches(tokens.encode(texts), batch_size, max_tokens=batch_size * tokens.max_length):
        feeds = batch.feeds
        out[batch.positions] = pool_static(table.vectors, table.weights, feeds["input_ids"], feeds["attention_mask"])
    return l2_normalize(out) if normalize else out
