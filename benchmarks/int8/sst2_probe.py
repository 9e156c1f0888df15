"""The SST-2 probe the early int8 studies share (int8_variants, int8_rowwise, int8_nbits in research/).

A MiniLM mean-pooling probe trained on 2,000 seeded SST-2 training phrases, its fused fp32 graph built
through the real exporter, and the splits: 1,000 other training phrases for calibration/sensitivity,
the 872 SST-2 dev sentences (the dataset's ``test.csv``) for evaluation.
"""

from __future__ import annotations

from pathlib import Path
from typing import NamedTuple

import numpy as np
from probe_runtime.artifact import Manifest
from probe_runtime.batching import TextEncoder
from probe_train.data import Dataset, load_dataset

from benchmarks.common.paths import dataset_file

__all__ = ["Setup", "setup"]


class Setup(NamedTuple):
    """The trained probe, its fused fp32 graph and the data splits every int8 study shares."""

    train: Dataset
    val: Dataset
    test: Dataset
    manifest: Manifest
    tok: str
    tokens: TextEncoder
    fp32: Path


def setup(work: Path) -> Setup:
    """Train the 2,000-phrase SST-2 probe in ``work`` and export its fused fp32 graph through the exporter."""
    import torch  # here: torch and the exporter are heavy, and only a run needs them
    from probe_export.graph import export_onnx, optimize
    from probe_export.module import build_module
    from probe_train.embeddings import text_encoder
    from probe_train.encoder import load_encoder, pad_token_id, tokenizer_json
    from probe_train.model_dir import load_trained, save_trained
    from probe_train.training import TrainRequest
    from probe_train.training import train as train_model

    full = load_dataset(dataset_file("sst2", "train"))
    order = np.random.default_rng(0).permutation(len(full))
    train = full.subset(np.sort(order[:2000]), "sst2 train[2000]")
    val = full.subset(np.sort(order[2000:3000]), "sst2 train, 1000 other phrases")
    test = load_dataset(dataset_file("sst2", "test"))
    save_trained(train_model(TrainRequest(train, load_encoder(), test=test)), work / "m")
    trained = load_trained(work / "m")
    module, encoder = build_module(trained)
    tok = tokenizer_json(encoder)
    tokens = text_encoder(encoder)
    manifest = Manifest(
        labels=trained.labels,
        max_length=trained.max_length,
        pooling="mean",
        base_encoder=encoder.name,
        input_names=encoder.input_names,
        pad_token_id=pad_token_id(encoder),
    )
    sample = next(tokens.batches(tokens.encode(test.texts[:2]), 2, 10**9)).feeds
    export_onnx(module, {k: torch.from_numpy(v) for k, v in sample.items()}, work / "raw.onnx")
    optimize(work / "raw.onnx", work / "fp32.onnx", 12, 384)
    return Setup(train, val, test, manifest, tok, tokens, work / "fp32.onnx")
