"""Fine-tuning's training batches: texts and labels → seeded, length-bucketed tensors per epoch.

Built with the runtime's own tokenize/sort/pad code (`text_encoder`), so the model is trained on
exactly the inputs the exported artifact will be fed.
"""

from __future__ import annotations

import numpy as np
import torch

from .classifier_module import Feeds, text_encoder
from .data import Dataset
from .encoder import Encoder

__all__ = ["SORT_WINDOW_BATCHES", "Batch", "TrainingBatches"]

# Texts are shuffled, then sorted by length within windows of this many batches: batches of similar
# length waste little on padding, while every epoch still sees a different mix.
SORT_WINDOW_BATCHES = 32


Batch = tuple[Feeds, torch.Tensor, torch.Tensor | None]  # inputs, targets, per-row loss weights (or None)


class TrainingBatches:
    """The seeded batch plan of every epoch: ``(feeds, targets, weights)``; weights None without ``--weight-column``."""

    def __init__(self, encoder: Encoder, data: Dataset, batch_size: int, seed: int):
        self.tokens = text_encoder(encoder)
        self.encodings = self.tokens.encode(data.texts)
        self.y = data.y
        self.weights = None if data.weights is None else data.weights.astype(np.float32)
        self.batch_size = batch_size
        self.seed = seed
        self.window = batch_size * SORT_WINDOW_BATCHES
        self.max_tokens = batch_size * encoder.max_length

    def per_epoch(self) -> int:
        """Batches in every epoch (the same count each time: it depends on sizes only, not on the shuffle)."""
        n, w = len(self.encodings), self.window
        full, rest = divmod(n, w)
        return full * -(-w // self.batch_size) + -(-rest // self.batch_size)

    def epoch(self, epoch: int) -> list[Batch]:
        """Depends only on (seed, epoch), so a resumed run sees the batches it would have seen."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.encodings))
        plan = []
        for start in range(0, len(order), self.window):
            window = order[start : start + self.window]
            for batch in self.tokens.batches([self.encodings[i] for i in window], self.batch_size, self.max_tokens):
                feeds = {k: torch.from_numpy(v) for k, v in batch.feeds.items()}
                rows = window[batch.positions]
                weights = None if self.weights is None else torch.from_numpy(self.weights[rows])
                plan.append((feeds, torch.from_numpy(self.y[rows]), weights))
        return [plan[i] for i in rng.permutation(len(plan))]
