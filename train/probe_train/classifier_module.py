"""Encoder → pooling → linear head, and the batched forward pass: written once, used by embedding,
fine-tuning and export.

The exported ONNX graph is a trace of `ClassifierModule.forward`; fine-tuning trains the same module
through `ClassifierModule.logits`; embedding runs `pooled` (the module without its head). So the
graph computes exactly what training did, and the PyTorch reference the export is verified against is
this very module.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence

import numpy as np
import torch
from probe_runtime.batching import TextEncoder
from tqdm.auto import tqdm

from .encoder import Encoder, pad_token_id, tokenizer_json
from .pooling import Pooling, normalize, pool, select_hidden

__all__ = ["ClassifierModule", "Feeds", "batched_forward", "forward_batches", "pooled", "text_encoder"]

Feeds = dict[str, torch.Tensor]


def text_encoder(encoder: Encoder) -> TextEncoder:
    """The runtime's own tokenize/sort/pad path, so training sees exactly the inputs the artifact will."""
    return TextEncoder(tokenizer_json(encoder), encoder.max_length, pad_token_id(encoder), encoder.input_names)


def pooled(model: torch.nn.Module, feeds: Feeds, pooling: Pooling | str, layer: int, l2: bool = False) -> torch.Tensor:
    """Encoder → pooling (→ L2 normalisation when ``l2``): the ``[batch, hidden]`` text vectors the head reads."""
    vectors = pool(select_hidden(model, feeds, layer), feeds["attention_mask"], pooling)
    return normalize(vectors) if l2 else vectors


class ClassifierModule(torch.nn.Module):
    """Token ids in; logits (training), or probabilities and pooled vectors (export) out.

    The attribute names (``encoder``, ``head``) are the state-dict keys fine-tuning checkpoints hold.
    ``temperature`` divides the logits before the softmax of `forward` (temperature scaling, fitted by
    `probe_train.calibration`): the exported graph's probabilities are the calibrated ones. Training
    (`logits`) never sees it.
    """

    def __init__(
        self,
        encoder: torch.nn.Module,
        head: torch.nn.Linear,
        pooling: str,
        layer: int,
        input_names: list[str],
        normalize: bool = False,
    ):
        super().__init__()
        self.normalize = normalize  # L2-normalise the pooled vector before the head (and in the export)
        self.encoder = encoder
        self.head = head
        self.pooling = pooling
        self.layer = layer
        self.input_names = input_names
        self.temperature = 1.0
        self.multi_label = False  # a sigmoid per label (multi-label files) instead of the softmax over them

    @classmethod
    def with_head(
        cls, encoder: Encoder, weight: np.ndarray, bias: np.ndarray, pooling: str, layer: int, normalize: bool = False
    ) -> ClassifierModule:
        """A trained head (``[n_labels, hidden]``, ``[n_labels]``) on ``encoder``."""
        head = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            head.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
            head.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
        return cls(encoder.model, head, pooling, layer, encoder.input_names, normalize)

    @classmethod
    def with_new_head(
        cls, encoder: Encoder, n_labels: int, pooling: str, layer: int, normalize: bool = False
    ) -> ClassifierModule:
        """A freshly initialised head (small normal weights, zero bias), to be fine-tuned with the encoder."""
        head = torch.nn.Linear(encoder.hidden_size, n_labels)
        torch.nn.init.normal_(head.weight, std=0.02)
        torch.nn.init.zeros_(head.bias)
        return cls(encoder.model, head, pooling, layer, encoder.input_names, normalize)

    def logits(self, feeds: Feeds) -> torch.Tensor:
        return self.head(pooled(self.encoder, feeds, self.pooling, self.layer, self.normalize))

    def head_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        """The head as float32 (weight, bias) arrays, detached copies."""
        weight = self.head.weight.detach().numpy().astype(np.float32).copy()
        return weight, self.head.bias.detach().numpy().astype(np.float32).copy()

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities, pooled embeddings): the exported graph's two outputs, inputs named like the tokenizer's."""
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            feeds["token_type_ids"] = token_type_ids
        vectors = pooled(self.encoder, feeds, self.pooling, self.layer, self.normalize)
        logits = self.head(vectors)
        if self.multi_label:  # each label's independent probability; its threshold decides (no temperature)
            return torch.sigmoid(logits), vectors
        if self.temperature != 1.0:  # no extra node in the graph of an uncalibrated model
            logits = logits / self.temperature
        return torch.softmax(logits, dim=-1), vectors


def forward_batches(
    encoder: Encoder,
    texts: Sequence[str],
    batch_size: int = 32,
    *,
    show_progress: bool = False,
    desc: str = "embedding",
) -> Iterator[tuple[np.ndarray, Feeds]]:
    """(positions, feeds) per batch, tokenized, sorted and padded exactly like the runtime, under inference mode."""
    tokens = text_encoder(encoder)
    with (
        torch.inference_mode(),
        tqdm(total=len(texts), desc=desc, unit=" texts", disable=not show_progress, leave=False) as bar,
    ):
        for batch in tokens.batches(tokens.encode(texts), batch_size, max_tokens=batch_size * encoder.max_length):
            yield batch.positions, {k: torch.from_numpy(v) for k, v in batch.feeds.items()}
            bar.update(len(batch.positions))


def batched_forward(
    encoder: Encoder,
    texts: Sequence[str],
    compute: Callable[[Feeds], torch.Tensor],
    width: int,
    batch_size: int = 32,
    *,
    show_progress: bool = False,
    desc: str = "embedding",
) -> np.ndarray:
    """``compute`` over every text, batched exactly like the runtime; float32 ``[n, width]`` in input order."""
    out = np.empty((len(texts), width), dtype=np.float32)
    for positions, feeds in forward_batches(encoder, texts, batch_size, show_progress=show_progress, desc=desc):
        out[positions] = compute(feeds).float().numpy()
    return out
