"""The PyTorch pipeline that becomes the ONNX graph: `probe_train.classifier_module.ClassifierModule`
with the trained head, and the batched PyTorch reference the exported file is verified against.

Folding the logistic-regression head into an ``nn.Linear`` gives one ``torch.onnx.export`` for both
the probe and the fine-tuned path.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
from probe_train.classifier_module import ClassifierModule, batched_forward
from probe_train.encoder import Encoder, load_encoder, position_limit
from probe_train.head_fit import check_head_fits_encoder
from probe_train.model_dir import TrainedModel

__all__ = ["ClassifierModule", "build_module", "torch_probabilities"]


def build_module(trained: TrainedModel, model_dir: Path | None = None) -> tuple[ClassifierModule, Encoder]:
    """The PyTorch classifier of ``trained`` (read from ``model_dir``, which error messages name).

    The head is checked against the encoder as loaded (its config, whatever name resolved to it) before it
    is attached: `load_trained` checks what it can find on disk, and a Hub id not in the local cache is
    only known here.
    """
    encoder = load_encoder(trained.encoder)
    settings = {"encoder": trained.encoder, "layer": trained.layer, "max_length": trained.max_length}
    where = model_dir if model_dir is not None else Path(trained.encoder)
    check_head_fits_encoder(
        where, settings, trained.weight.shape[1], encoder.model.config.to_dict(), position_limit(encoder.model)
    )
    encoder.max_length = trained.max_length
    module = ClassifierModule.with_head(
        encoder, trained.weight, trained.bias, trained.pooling, trained.layer, trained.normalize
    )
    module.temperature = trained.temperature  # folded into the graph: the file's probabilities are calibrated
    module.multi_label = trained.multi_label  # ends in a sigmoid per label
    return module.eval(), encoder


def torch_probabilities(
    module: ClassifierModule, encoder: Encoder, texts: list[str], batch_size: int = 32
) -> np.ndarray:
    """The reference the exported file is verified against, batched exactly like the runtime."""
    return batched_forward(encoder, texts, lambda feeds: module(**feeds)[0], module.head.out_features, batch_size)
