"""Frozen-encoder embeddings: batched, length-sorted, with a progress bar."""

from __future__ import annotations

import logging
from collections.abc import Sequence

import numpy as np
import torch
from probe_runtime.batching import TextEncoder
from tqdm.auto import tqdm

from .encoder import Encoder, pad_token_id, tokenizer_json
from .pooling import Pooling, pool, select_hidden

__all__ = ["embed_texts", "text_encoder"]

log = logging.getLogger(__name__)


def text_encoder(encoder: Encoder) -> TextEncoder:
    """The runtime's own tokenize/sort/pad path, so training sees exactly the inputs the artifact will."""
    return TextEncoder(tokenizer_json(encoder), encoder.max_length, pad_token_id(encoder), encoder.input_names)


def embed_texts(
    encoder: Encoder,
    texts: Sequence[str],
    pooling: Pooling | str = Pooling.MEAN,
    layer: int = -1,
    batch_size: int = 32,
    show_progress: bool = True,
) -> np.ndarray:
    """One pooled vector per text, in input order, as float32 ``[n, hidden]``."""
    tokens = text_encoder(encoder)
    encodings = tokens.encode(texts)
    out = np.empty((len(texts), encoder.hidden_size), dtype=np.float32)
    with (
        torch.inference_mode(),
        tqdm(total=len(texts), desc="embedding", unit=" texts", disable=not show_progress, leave=False) as bar,
    ):
        for batch in tokens.batches(encodings, batch_size, max_tokens=batch_size * encoder.max_length):
            feeds = {k: torch.from_numpy(v) for k, v in batch.feeds.items()}
            hidden = select_hidden(encoder.model, feeds, layer)
            out[batch.positions] = pool(hidden, feeds["attention_mask"], pooling).float().numpy()
            bar.update(len(batch.positions))
    return out
