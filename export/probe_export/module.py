"""The PyTorch pipeline that becomes the ONNX graph: encoder → pooling → linear head → softmax.

Folding the logistic-regression head into an ``nn.Linear`` gives one ``torch.onnx.export`` for both
the probe and the fine-tuned path, and a PyTorch reference to verify the exported file against.
"""

from __future__ import annotations

import numpy as np
import torch
from probe_train.encoder import Encoder, load_encoder
from probe_train.model_dir import TrainedModel
from probe_train.pooling import pool, select_hidden

__all__ = ["ClassifierModule", "build_module", "torch_probabilities"]


class ClassifierModule(torch.nn.Module):
    """Token ids in, class probabilities out; the inputs are named like the tokenizer's outputs."""

    def __init__(
        self,
        encoder: torch.nn.Module,
        weight: np.ndarray,
        bias: np.ndarray,
        pooling: str,
        layer: int,
        input_names: list[str],
    ):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.layer = layer
        self.input_names = input_names
        self.head = torch.nn.Linear(weight.shape[1], weight.shape[0])
        with torch.no_grad():
            self.head.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
            self.head.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities, pooled embeddings)."""
        feeds = {"input_ids": input_ids, "attention_mask": attention_mask}
        if token_type_ids is not None:
            feeds["token_type_ids"] = token_type_ids
        hidden = select_hidden(self.encoder, feeds, self.layer)
        pooled = pool(hidden, attention_mask, self.pooling)
        return torch.softmax(self.head(pooled), dim=-1), pooled


def build_module(trained: TrainedModel) -> tuple[ClassifierModule, Encoder]:
    encoder = load_encoder(trained.encoder, trained.max_length)
    module = ClassifierModule(
        encoder.model, trained.weight, trained.bias, trained.pooling, trained.layer, encoder.input_names
    )
    return module.eval(), encoder


def torch_probabilities(
    module: ClassifierModule, encoder: Encoder, texts: list[str], batch_size: int = 32
) -> np.ndarray:
    """The reference the exported file is verified against, batched exactly like the runtime."""
    from probe_train.embeddings import text_encoder

    tokens = text_encoder(encoder)
    out = np.empty((len(texts), module.head.out_features), dtype=np.float32)
    with torch.inference_mode():
        for batch in tokens.batches(tokens.encode(texts), batch_size, batch_size * encoder.max_length):
            feeds = {k: torch.from_numpy(v) for k, v in batch.feeds.items()}
            out[batch.positions] = module(**feeds)[0].numpy()
    return out
