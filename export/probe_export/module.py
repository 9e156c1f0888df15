"""The PyTorch pipeline that becomes the ONNX graph: `probe_train.classifier_module.ClassifierModule`
with the trained head, and the batched PyTorch reference the exported file is verified against.

Folding the logistic-regression head into an ``nn.Linear`` gives one ``torch.onnx.export`` for both
the probe and the fine-tuned path.
"""

from __future__ import annotations

import numpy as np
from probe_train.classifier_module import ClassifierModule, batched_forward
from probe_train.encoder import Encoder, load_encoder
from probe_train.model_dir import TrainedModel

__all__ = ["ClassifierModule", "build_module", "torch_probabilities"]


def build_module(trained: TrainedModel) -> tuple[ClassifierModule, Encoder]:
    encoder = load_encoder(trained.encoder, trained.max_length)
    module = ClassifierModule.with_head(
        encoder, trained.weight, trained.bias, trained.pooling, trained.layer, trained.normalize
    )
    module.temperature = trained.temperature  # folded into the graph: the file's probabilities are calibrated
    return module.eval(), encoder


def torch_probabilities(
    module: ClassifierModule, encoder: Encoder, texts: list[str], batch_size: int = 32
) -> np.ndarray:
    """The reference the exported file is verified against, batched exactly like the runtime."""
    return batched_forward(encoder, texts, lambda feeds: module(**feeds)[0], module.head.out_features, batch_size)
