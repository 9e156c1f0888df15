"""`probe export` of a static model (`probe train --encoder static`): the table's graph (`static_graph`) instead
of the traced transformer, through the same gate, verification, speed line, canaries, card and writer.

The transformer-only steps are skipped: there is no attention to fuse (`graph.optimize`) and no block to drop
(`truncate`). Precision: the candidates are the table stored per-row int8 (a quarter of the size; no int8
arithmetic, so batch-independent by construction) and fp32; ``auto`` ships the int8 table when it passes the
gate against fp32, any explicit int8 request means the int8 table, ``none`` means fp32. Every graph is
verified against the PyTorch reference (`probe_train.static_module.StaticClassifier`).
"""

from __future__ import annotations

import tempfile
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
from probe_runtime import Classifier
from probe_runtime.artifact import Manifest
from probe_runtime.choices import EncoderKind, Quantization
from probe_runtime.records import EncoderRecord, Verification
from probe_train.classifier_module import batched_forward
from probe_train.encoder import Encoder, load_encoder, pad_token_id, tokenizer_json
from probe_train.model_dir import TrainedModel
from probe_train.static_encoder import StaticTable
from probe_train.static_module import StaticClassifier

from . import AUTO, __version__
from .decisions import decision_fields, decision_verification
from .gate import GateLimits
from .options import ExportOptions
from .precision import Candidate, Reference, evaluate_candidate, record
from .shipping import (
    ExportError,
    Verified,
    checked_fp32,
    gate_message,
    int8_figures,
    long_text_fields,
    measured,
    verification_texts,
)
from .static_graph import STATIC_INPUTS, StaticHead, static_graph, write_static_artifact
from .verify import compare

__all__ = ["export_static", "static_contract_fields", "static_reference"]


def static_contract_fields(int8: bool, table: StaticTable) -> dict[str, Any]:
    """The manifest fields only a static file has: its precision (``int8-table``: per-row int8 table, fp32
    arithmetic, so batch-independent; else ``none``) and the encoder record `info` and the card show.
    `write_static_artifact` derives the same from the graph it seals and refuses a disagreement."""
    vocab, dims = table.vectors.shape
    encoder = EncoderRecord(EncoderKind.STATIC, dims=int(dims), vocab=int(vocab), distilled_from=table.encoder)
    return {"quantization": Quantization.INT8_TABLE if int8 else Quantization.NONE, "encoder": encoder}


def static_reference(trained: TrainedModel) -> StaticClassifier:
    """The PyTorch classifier the file is verified against: table, head, L2 and temperature as trained."""
    assert trained.static is not None
    module = StaticClassifier.with_head(trained.static, trained.weight, trained.bias, trained.normalize)
    module.temperature = trained.temperature
    return module.eval()


def _manifest(trained: TrainedModel, encoder: Encoder) -> Manifest:
    return Manifest(
        labels=list(trained.labels),
        max_length=trained.max_length,
        pooling=trained.pooling,
        layer=0,
        base_encoder=trained.base_encoder,
        input_names=list(STATIC_INPUTS),
        pad_token_id=pad_token_id(encoder),
        method=trained.method,
        quantization=Quantization.NONE,  # set once the gate has chosen (`static_contract_fields`)
        training=trained.summary(),
        provenance=trained.provenance,
        created_by=f"probe {__version__}",
        encoder_layers=0,
        **decision_fields(trained),
    )


def _choose(
    requested: str, trained: TrainedModel, work: Path, ref: Reference, limits: GateLimits
) -> tuple[Candidate | None, list[Candidate]]:
    """The gate over the static candidates: (int8 table, fp32) for ``auto``, else the one asked for."""
    assert trained.static is not None
    head = StaticHead(trained.weight, trained.bias, trained.normalize, trained.temperature)
    order = (True, False) if requested == AUTO else (requested != Quantization.NONE.value,)
    tried: list[Candidate] = []
    for int8 in order:
        path = work / ("int8-table.onnx" if int8 else "fp32.onnx")
        if not path.is_file():
            onnx.save(static_graph(trained.static.vectors, trained.static.weights, head, int8), str(path))
        name = static_contract_fields(int8, trained.static)["quantization"]
        candidate = evaluate_candidate(name, path, ref, limits, requested == AUTO, is_fp32=not int8)
        tried.append(candidate)
        if candidate.passed:
            return candidate, tried
    return None, tried


def export_static(trained: TrainedModel, model_dir: Path, out: Path, options: ExportOptions) -> Manifest:
    """The static model's file (see the module doc); the caller has guarded and locked ``out``."""
    assert trained.static is not None
    encoder = load_encoder(trained.encoder)  # for its tokenizer: the transformer's weights are not in the file
    encoder.max_length = trained.max_length
    texts, y, source = verification_texts(trained, options)
    module = static_reference(trained)
    reference = batched_forward(encoder, texts, lambda feeds: module(**feeds)[0], len(trained.labels))
    verified = Verified(texts, y, source, reference)
    manifest, tok_json = _manifest(trained, encoder), tokenizer_json(encoder)
    long_text = long_text_fields(manifest, encoder, options)

    def load(path: Path) -> Classifier:
        return Classifier.from_graph(path, manifest, tok_json)

    with tempfile.TemporaryDirectory(prefix="probe-static-export-") as tmp:
        head = StaticHead(trained.weight, trained.bias, trained.normalize, trained.temperature)
        fp32_path = Path(tmp) / "fp32.onnx"
        onnx.save(static_graph(trained.static.vectors, trained.static.weights, head, False), str(fp32_path))
        fp32_probs = load(fp32_path).predict_proba(texts)
        fp32 = checked_fp32(verified, fp32_probs, options)
        extra = list(trained.sample_texts)
        fp32_all = np.concatenate([load(fp32_path).predict_proba(extra), fp32_probs]) if extra else fp32_probs
        ref = Reference(load, fp32_all, extra + list(texts), slice(len(extra), None), y)
        chosen, tried = _choose(options.quantize, trained, Path(tmp), ref, options.limits)
        if chosen is None:
            raise ExportError(gate_message(tried[-1], model_dir, out, options))
        int8 = chosen.path.name.startswith("int8")
        verification = Verification(
            texts=len(texts),
            source=source,
            torch=compare(reference, reference, y) if y is not None else None,
            fp32=fp32,
            agreement_texts=len(ref.texts),
            int8=int8_figures(reference, fp32_probs, chosen.probs[ref.labelled], y) if int8 else None,
            precision=record(options.quantize, chosen, tried, options.limits),
            **decision_verification(manifest, chosen.probs[ref.labelled], y),
        )
        contract = static_contract_fields(int8, trained.static)
        manifest = replace(manifest, verification=verification, **contract, **long_text)
        manifest = measured(manifest, chosen.path, load, tok_json, out)
        write_static_artifact(onnx.load(str(chosen.path)), manifest, tok_json, out)
    return manifest
