"""Frozen-encoder embeddings: batched, length-sorted, with a progress bar."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from .classifier_module import batched_forward, pooled, text_encoder
from .encoder import Encoder
from .pooling import Pooling

__all__ = ["embed_texts", "text_encoder"]


def embed_texts(
    encoder: Encoder,
    texts: Sequence[str],
    pooling: Pooling | str = Pooling.MEAN,
    layer: int = -1,
    batch_size: int = 32,
    show_progress: bool = True,
) -> np.ndarray:
    """One pooled vector per text, in input order, as float32 ``[n, hidden]``."""
    return batched_forward(
        encoder,
        texts,
        lambda feeds: pooled(encoder.model, feeds, pooling, layer),
        encoder.hidden_size,
        batch_size,
        show_progress=show_progress,
    )
