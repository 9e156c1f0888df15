"""The static classifier in PyTorch: table lookup → weighted mean over the mask → (L2) → linear head → softmax.

It is the reference the exported static graph is verified against (`probe_export.static_graph`), and what
fine-tuning trains: the head alone, or the head and the table (Model2Vec's classifier trains its table too;
on SST-2 the table is where the gain is, benchmarks/static_report.py). Its ``forward`` has the transformer
`ClassifierModule`'s signature and outputs, so whatever feeds one feeds the other.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from probe_runtime.batching import TextEncoder

from .static_encoder import StaticTable

__all__ = ["StaticClassifier", "StaticFinetune", "finetune_static"]

_EPS = 1e-9  # as `probe_train.static_encoder.pool_static`


class StaticClassifier(torch.nn.Module):
    """Token ids in; logits (training), or probabilities and pooled vectors (export) out.

    ``table``: the token vectors (trainable or frozen), ``weights``: the per-token SIF weights (a buffer:
    never trained, special tokens stay at 0). ``temperature`` divides the logits in `forward` only.
    """

    weights: torch.Tensor  # registered as a buffer in __init__

    def __init__(self, table: StaticTable, n_labels: int, normalize: bool = False, train_table: bool = False):
        super().__init__()
        # Sparse gradients: a step touches the rows of its batch's tokens only, not all of the table.
        vectors = torch.from_numpy(table.vectors.copy())
        self.table = torch.nn.Embedding.from_pretrained(vectors, freeze=not train_table, sparse=True)
        self.register_buffer("weights", torch.from_numpy(table.weights.astype(np.float32).copy()))
        self.head = torch.nn.Linear(table.dims, n_labels)
        torch.nn.init.normal_(self.head.weight, std=0.02)
        torch.nn.init.zeros_(self.head.bias)
        self.normalize = normalize
        self.encoder_name = table.encoder
        self.sif = table.sif
        self.temperature = 1.0

    @classmethod
    def with_head(
        cls, table: StaticTable, weight: np.ndarray, bias: np.ndarray, normalize: bool = False
    ) -> StaticClassifier:
        """A trained head (``[n_labels, dims]``, ``[n_labels]``, e.g. `probe.softmax_head`) on ``table``."""
        module = cls(table, int(weight.shape[0]), normalize)
        with torch.no_grad():
            module.head.weight.copy_(torch.from_numpy(np.asarray(weight, dtype=np.float32)))
            module.head.bias.copy_(torch.from_numpy(np.asarray(bias, dtype=np.float32)))
        return module

    def pooled(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        """Weighted mean of the token vectors over the mask (then unit length when ``normalize``)."""
        w = self.weights[input_ids] * attention_mask.to(torch.float32)
        total = torch.einsum("bs,bsd->bd", w, self.table(input_ids))
        vectors = total / w.sum(dim=1, keepdim=True).clamp(min=_EPS)
        return torch.nn.functional.normalize(vectors, p=2.0, dim=-1) if self.normalize else vectors

    def logits(self, feeds: dict[str, torch.Tensor]) -> torch.Tensor:
        return self.head(self.pooled(feeds["input_ids"], feeds["attention_mask"]))

    def forward(
        self, input_ids: torch.Tensor, attention_mask: torch.Tensor, token_type_ids: torch.Tensor | None = None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """(probabilities, pooled vectors), like `ClassifierModule.forward`; token types are ignored."""
        vectors = self.pooled(input_ids, attention_mask)
        return torch.softmax(self.head(vectors) / self.temperature, dim=-1), vectors

    def to_table(self) -> StaticTable:
        """The (possibly fine-tuned) table as a `StaticTable`, for export."""
        vectors = self.table.weight.detach().numpy().astype(np.float32).copy()
        return StaticTable(vectors, self.weights.numpy().copy(), self.encoder_name, self.sif, float("nan"))

    def head_arrays(self) -> tuple[np.ndarray, np.ndarray]:
        weight = self.head.weight.detach().numpy().astype(np.float32).copy()
        return weight, self.head.bias.detach().numpy().astype(np.float32).copy()


@dataclass(frozen=True)
class StaticFinetune:
    """How to fine-tune: ``epochs`` at most, early stopping on ``validation`` share of the rows after
    ``patience`` epochs without a better validation accuracy; the table trains too with ``train_table``."""

    epochs: int = 10
    learning_rate: float = 1e-3
    batch_size: int = 64
    validation: float = 0.1
    patience: int = 2
    train_table: bool = True
    seed: int = 0


def _batches(tokens: TextEncoder, texts: Sequence[str], batch_size: int) -> list[tuple[np.ndarray, dict]]:
    """Padded, length-sorted batches (the runtime's own), tokenized once for every epoch."""
    encodings = tokens.encode(texts)
    return [
        (b.positions, {k: torch.from_numpy(b.feeds[k]) for k in ("input_ids", "attention_mask")})
        for b in tokens.batches(encodings, batch_size, max_tokens=batch_size * tokens.max_length)
    ]


def _accuracy(module: StaticClassifier, batches: list[tuple[np.ndarray, dict]], y: np.ndarray) -> float:
    right = 0
    with torch.inference_mode():
        for positions, feeds in batches:
            right += int((module.logits(feeds).argmax(1).numpy() == y[positions]).sum())
    return right / max(len(y), 1)


def finetune_static(
    module: StaticClassifier, tokens: TextEncoder, texts: Sequence[str], y: np.ndarray, how: StaticFinetune
) -> tuple[StaticClassifier, dict[str, float]]:
    """Train ``module`` (head, and table when ``how.train_table``) with AdamW and cross-entropy; returns the
    best epoch's module (by validation accuracy) and its figures. The rows held out for validation are a
    seeded random share, so the same data and seed give the same model."""
    rng = np.random.default_rng(how.seed)
    torch.manual_seed(how.seed)
    order = rng.permutation(len(texts))
    n_val = max(1, round(len(texts) * how.validation))
    val, fit = order[:n_val], order[n_val:]
    fit_batches = _batches(tokens, [texts[i] for i in fit], how.batch_size)
    val_batches = _batches(tokens, [texts[i] for i in val], 1024)
    y_fit, y_val = torch.from_numpy(np.asarray(y)[fit]).long(), np.asarray(y)[val]
    module.table.weight.requires_grad_(how.train_table)
    optimizers: list[torch.optim.Optimizer] = [torch.optim.AdamW(module.head.parameters(), lr=how.learning_rate)]
    if how.train_table:  # Adam on the rows a batch touched only (the table's gradient is sparse)
        optimizers.append(torch.optim.SparseAdam([module.table.weight], lr=how.learning_rate))
    best, best_epoch, waited = _accuracy(module, val_batches, y_val), 0, 0
    best_state = copy.deepcopy(module.state_dict())
    for epoch in range(1, how.epochs + 1):
        module.train()
        for i in rng.permutation(len(fit_batches)):
            positions, feeds = fit_batches[i]
            loss = torch.nn.functional.cross_entropy(module.logits(feeds), y_fit[positions])
            for optimizer in optimizers:
                optimizer.zero_grad()
            loss.backward()
            for optimizer in optimizers:
                optimizer.step()
        module.eval()
        score = _accuracy(module, val_batches, y_val)
        if score > best:
            best, best_state, best_epoch, waited = score, copy.deepcopy(module.state_dict()), epoch, 0
        else:
            waited += 1
            if waited >= how.patience:
                break
    module.load_state_dict(best_state)
    module.table.weight.requires_grad_(False)
    return module.eval(), {"validation_accuracy": best, "best_epoch": best_epoch, "validation_rows": n_val}
