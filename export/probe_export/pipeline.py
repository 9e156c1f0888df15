"""`probe export`: trained model directory → one verified, self-contained `.onnx` file."""

from __future__ import annotations

import logging
import tempfile
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from probe_runtime import Classifier
from probe_runtime.artifact import Manifest
from probe_runtime.choices import Quantization
from probe_runtime.guard import output_lock
from probe_runtime.records import Figures, Verification
from probe_train.embeddings import text_encoder
from probe_train.encoder import pad_token_id, tokenizer_json
from probe_train.model_dir import TrainedModel, load_trained

from . import __version__
from .decisions import decision_fields, decision_verification, label_thresholds
from .exactness import saturation_report
from .graph import export_onnx, optimize, unfused_attention
from .module import build_module, torch_probabilities
from .options import ExportOptions
from .output import guard_export_output
from .precision import Candidate, Reference, choose_precision, record
from .shipping import (
    ExportError,
    Verified,
    checked_fp32,
    gate_message,
    int8_figures,
    long_text_fields,
    measured,
    requires_onnxruntime,
    verification_texts,
)
from .static_export import export_static
from .truncate import truncate_module
from .verify import compare
from .writer import write_artifact

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_model"]

log = logging.getLogger(__name__)
DEFAULT_OPTIONS = ExportOptions()


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: Manifest
    seconds: float


def export_model(
    model_dir: str | Path, out: str | Path, options: ExportOptions = DEFAULT_OPTIONS, *, overwrite: bool = False
) -> ExportResult:
    """Export, fuse, (quantize,) verify against PyTorch, and write the artifact.

    ``out`` is checked first, the one time (see `guard_export_output`): it replaces only an earlier probe
    artifact, and only with ``overwrite``; then it is locked against a second writer while the export runs.
    """
    started = time.perf_counter()
    guard_export_output(model_dir, out, options.eval_file, overwrite=overwrite)
    with output_lock(Path(out)):
        manifest = _export(Path(model_dir), Path(out), options)
    return ExportResult(Path(out), manifest, round(time.perf_counter() - started, 1))


def _export(model_dir: Path, out: Path, options: ExportOptions) -> Manifest:
    """The pipeline, in order: the PyTorch classifier, its fp32 graph, the precision the gate ships, the file."""
    trained = load_trained(model_dir)
    if trained.static is not None:  # the edge tier: the table's own graph, through the same gate and writer
        return export_static(trained, model_dir, out, options)
    module, encoder = build_module(trained, model_dir)
    texts, y, source = verification_texts(trained, options)
    # Only the blocks up to the layer the head reads go into the graph (`truncate`), checked on 32 texts.
    module, encoder_layers = truncate_module(module, _feeds(encoder, texts[:32]))
    manifest = _manifest(trained, encoder, encoder_layers)
    tok_json = tokenizer_json(encoder)
    long_text = long_text_fields(manifest, encoder, options)
    log.info("computing PyTorch reference probabilities on %d texts", len(texts))
    verified = Verified(texts, y, source, torch_probabilities(module, encoder, texts), label_thresholds(manifest))
    with tempfile.TemporaryDirectory(prefix="probe-export-") as tmp:
        fused = Path(tmp) / "fp32.onnx"
        fused_ops = _fused_graph(module, encoder, texts[:2], encoder_layers, Path(tmp), fused)
        fp32_runner = Classifier.from_graph(fused, manifest, tok_json)
        # The optimizer may prune an input the graph does not need (e.g. all-zero token types):
        # the manifest records the inputs the file really declares.
        manifest = replace(manifest, input_names=[i.name for i in fp32_runner.session.get_inputs()])
        fp32_probs = fp32_runner.predict_proba(texts)
        fp32 = checked_fp32(verified, fp32_probs, options)

        def load(path: Path) -> Classifier:
            return Classifier.from_graph(path, manifest, tok_json)

        # Agreement with fp32 needs no labels: the training sample the model directory keeps, then the
        # labelled texts (the paired accuracy test reads those).
        extra = list(trained.sample_texts)
        fp32_all = np.concatenate([fp32_runner.predict_proba(extra), fp32_probs]) if extra else fp32_probs
        ref = Reference(load, fp32_all, extra + list(texts), slice(len(extra), None), y, verified.thresholds)
        chosen, tried = choose_precision(options.quantize, fused, Path(tmp), ref, options.limits)
        if chosen is None:
            raise ExportError(gate_message(tried[-1], model_dir, out, options))
        verification = _verification(verified, fp32, fp32_probs, chosen, ref, encoder_layers, fused_ops)
        verification = replace(verification, precision=record(options.quantize, chosen, tried, options.limits))
        verification = replace(verification, **decision_verification(manifest, chosen.probs[ref.labelled], y))
        manifest = replace(
            manifest,
            quantization=chosen.name,
            verification=verification,
            requires_onnxruntime=requires_onnxruntime(chosen.name),
            **long_text,
        )
        manifest = measured(manifest, chosen.path, load, tok_json, out)
        write_artifact(chosen.path, manifest, tok_json, out)
    return manifest


def _manifest(trained: TrainedModel, encoder: Any, encoder_layers: int) -> Manifest:
    """What the model directory says of the classifier, as the manifest records it (verification comes later)."""
    return Manifest(
        labels=list(trained.labels),
        max_length=trained.max_length,
        pooling=trained.pooling,
        layer=trained.layer,
        base_encoder=trained.base_encoder,
        input_names=encoder.input_names,
        pad_token_id=pad_token_id(encoder),
        method=trained.method,
        quantization=Quantization.NONE,  # the precision actually shipped is set once the gate has chosen it
        training=trained.summary(),  # every field of the artifact's training record the run set, by name
        provenance=trained.provenance,
        created_by=f"probe {__version__}",
        encoder_layers=encoder_layers,
        **decision_fields(trained),
    )


def _fused_graph(
    module: Any, encoder: Any, sample: list[str], encoder_layers: int, tmp: Path, fused: Path
) -> dict[str, int]:
    """The fp32 graph traced on ``sample``, onnxruntime's transformer fusions applied at ``fused``: the ops fused."""
    raw = tmp / "raw.onnx"
    export_onnx(module, _feeds(encoder, sample), raw)
    config = encoder.model.config
    heads, hidden = config.num_attention_heads, config.hidden_size
    return optimize(raw, fused, heads, hidden, model_type=config.model_type, layers=encoder_layers)


def _verification(
    verified: Verified,
    fp32: Figures,
    fp32_probs: np.ndarray,
    chosen: Candidate,
    ref: Reference,
    encoder_layers: int,
    fused_ops: dict[str, int],
) -> Verification:
    """Each graph against its reference: PyTorch against itself (its accuracy), fp32 against PyTorch, the
    shipped quantized graph against fp32 (the gate's own batched answers: no second pass over the texts)."""
    y, reference, cuts = verified.y, verified.reference, verified.thresholds
    int8 = (
        None
        if chosen.name is Quantization.NONE
        else int8_figures(reference, fp32_probs, chosen.probs[ref.labelled], y, cuts)
    )
    return Verification(
        texts=len(verified.texts),
        source=verified.source,
        torch=compare(reference, reference, y, cuts) if y is not None else None,
        int8_worst_pair_sum=None if int8 is None else saturation_report(onnx.load(str(chosen.path))).worst_pair_sum,
        fused_ops=fused_ops,
        unfused_attention=unfused_attention(fused_ops, encoder_layers),
        fp32=fp32,
        agreement_texts=len(ref.texts),
        int8=int8,
    )


def _feeds(encoder: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    """One padded batch of ``texts``, as the runtime would feed it."""
    tokens = text_encoder(encoder)
    return {
        k: torch.from_numpy(v) for k, v in next(tokens.batches(tokens.encode(texts), len(texts), 10**9)).feeds.items()
    }
