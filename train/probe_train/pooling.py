"""Token vectors → one text vector. One implementation, used by embedding, fine-tuning and export,
so the exported graph pools exactly as training did."""

from __future__ import annotations

import numpy as np
import torch
from probe_runtime.artifact import Pooling

__all__ = ["Pooling", "l2_normalize", "normalize", "pool", "select_hidden"]


def pool(hidden: torch.Tensor, attention_mask: torch.Tensor, pooling: Pooling | str) -> torch.Tensor:
    """Pool ``[batch, seq, dim]`` into ``[batch, dim]``, ignoring padding."""
    pooling = Pooling(pooling)
    if pooling is Pooling.CLS:
        return hidden[:, 0]
    mask = attention_mask.unsqueeze(-1).to(hidden.dtype)
    if pooling is Pooling.MEAN:
        return (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
    return hidden.masked_fill(mask == 0, torch.finfo(hidden.dtype).min).amax(dim=1)


def select_hidden(model: torch.nn.Module, feeds: dict[str, torch.Tensor], layer: int) -> torch.Tensor:
    """The hidden states of ``layer`` (-1: last; 0: embeddings; k: after block k)."""
    if layer == -1:
        return model(**feeds).last_hidden_state
    return model(**feeds, output_hidden_states=True).hidden_states[layer]


def normalize(vectors: torch.Tensor) -> torch.Tensor:
    """Unit-length rows (L2), as sentence-transformers' Normalize does; in the graph when a model asks for it."""
    return torch.nn.functional.normalize(vectors, p=2.0, dim=-1)


def l2_normalize(x: np.ndarray) -> np.ndarray:
    """`normalize` on NumPy rows (cached embeddings): x / max(‖x‖, 1e-12), torch's own formula."""
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return (x / np.maximum(norms, 1e-12)).astype(np.float32, copy=False)
