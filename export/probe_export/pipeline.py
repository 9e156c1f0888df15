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
from onnxruntime import __version__ as ort_version
from probe_runtime import Classifier, ProbeError
from probe_runtime.artifact import Manifest
from probe_runtime.canary import record_canaries
from probe_runtime.choices import LongTextPolicy, Quantization, WindowAggregate
from probe_runtime.compat import BLOCKED_QUANTIZE_SINCE, version_text
from probe_runtime.guard import output_lock
from probe_runtime.long_text import Windower, resolve_long_text
from probe_runtime.records import Figures, Verification
from probe_train.data import align_labels, load_dataset
from probe_train.embeddings import text_encoder
from probe_train.encoder import pad_token_id, tokenizer_json
from probe_train.model_dir import TrainedModel, load_trained

from . import __version__
from .card import facts_from_manifest, picture_links, render_card
from .decisions import decision_fields, decision_verification, label_thresholds, load_multilabel_eval
from .exactness import saturation_report
from .graph import export_onnx, optimize, unfused_attention
from .module import build_module, torch_probabilities
from .options import ExportOptions
from .output import guard_export_output
from .precision import Candidate, Reference, choose_precision, record
from .speed import measure_speed
from .truncate import truncate_module
from .verify import compare
from .writer import write_artifact

__all__ = ["ExportError", "ExportOptions", "ExportResult", "export_model"]

log = logging.getLogger(__name__)
DEFAULT_OPTIONS = ExportOptions()


class ExportError(ProbeError):
    """The exported graph does not reproduce the trained model closely enough to be shipped."""


@dataclass(frozen=True)
class ExportResult:
    path: Path
    manifest: Manifest
    seconds: float


def _verification_texts(trained: TrainedModel, options: ExportOptions) -> tuple[list[str], np.ndarray | None, str]:
    if options.eval_file and trained.multi_label:
        ml = load_multilabel_eval(options.eval_file, options.text_column, options.label_column, trained.labels)
        return ml.texts, ml.y, options.eval_file
    if options.eval_file:
        data = load_dataset(options.eval_file, options.text_column, options.label_column, min_classes=1)
        data = align_labels(data, trained.labels)
        return data.texts, data.y, options.eval_file
    if trained.eval_texts:
        return trained.eval_texts, np.asarray(trained.eval_y), "held-out split saved by `probe train`"
    raise ProbeError("the model directory holds no evaluation texts; pass a labelled file with --eval FILE")


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


@dataclass(frozen=True)
class _Verified:
    """The texts the file is verified on (``y``: their labels, None without), where they come from, and
    what PyTorch answers on them: the reference every graph is held to."""

    texts: list[str]
    y: np.ndarray | None
    source: str
    reference: np.ndarray
    thresholds: np.ndarray | None = None  # multi-label: each label's threshold, in label order


def _export(model_dir: Path, out: Path, options: ExportOptions) -> Manifest:
    """The pipeline, in order: the PyTorch classifier, its fp32 graph, the precision the gate ships, the file."""
    trained = load_trained(model_dir)
    module, encoder = build_module(trained, model_dir)
    texts, y, source = _verification_texts(trained, options)
    # Only the blocks up to the layer the head reads go into the graph (`truncate`), checked on 32 texts.
    module, encoder_layers = truncate_module(module, _feeds(encoder, texts[:32]))
    manifest = _manifest(trained, encoder, encoder_layers)
    tok_json = tokenizer_json(encoder)
    long_text = _long_text_fields(manifest, encoder, options)
    log.info("computing PyTorch reference probabilities on %d texts", len(texts))
    cuts = label_thresholds(manifest)
    verified = _Verified(texts, y, source, torch_probabilities(module, encoder, texts), cuts)
    with tempfile.TemporaryDirectory(prefix="probe-export-") as tmp:
        fused = Path(tmp) / "fp32.onnx"
        fused_ops = _fused_graph(module, encoder, texts[:2], encoder_layers, Path(tmp), fused)
        fp32_runner = Classifier.from_graph(fused, manifest, tok_json)
        # The optimizer may prune an input the graph does not need (e.g. all-zero token types):
        # the manifest records the inputs the file really declares.
        manifest = replace(manifest, input_names=[i.name for i in fp32_runner.session.get_inputs()])
        fp32_probs = fp32_runner.predict_proba(texts)
        fp32 = _checked_fp32(verified, fp32_probs, options)

        def load(path: Path) -> Classifier:
            return Classifier.from_graph(path, manifest, tok_json)

        # Agreement with fp32 needs no labels: the training sample the model directory keeps, then the
        # labelled texts (the paired accuracy test reads those).
        extra = list(trained.sample_texts)
        fp32_all = np.concatenate([fp32_runner.predict_proba(extra), fp32_probs]) if extra else fp32_probs
        ref = Reference(load, fp32_all, extra + list(texts), slice(len(extra), None), y, cuts)
        chosen, tried = choose_precision(options.quantize, fused, Path(tmp), ref, options.limits)
        if chosen is None:
            raise ExportError(_gate_message(tried[-1], model_dir, out, options))
        verification = _verification(verified, fp32, fp32_probs, chosen, ref, encoder_layers, fused_ops)
        verification = replace(verification, precision=record(options.quantize, chosen, tried, options.limits))
        verification = replace(verification, **decision_verification(manifest, chosen.probs[ref.labelled], y))
        manifest = replace(
            manifest,
            quantization=chosen.name,
            verification=verification,
            requires_onnxruntime=_requires_onnxruntime(chosen.name),
            **long_text,
        )
        manifest = _measured(manifest, chosen.path, load, tok_json, out)
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


def _checked_fp32(verified: _Verified, fp32_probs: np.ndarray, options: ExportOptions) -> Figures:
    """The fp32 graph against PyTorch; beyond the tolerance nothing is shipped."""
    fp32 = compare(verified.reference, fp32_probs, verified.y, verified.thresholds)
    if fp32.max_abs_diff is not None and fp32.max_abs_diff > options.fp32_tolerance:
        raise ExportError(
            f"the fp32 ONNX graph differs from PyTorch by up to {fp32.max_abs_diff:.2e} "
            f"in probability (tolerance {options.fp32_tolerance:.0e}); the export is not trustworthy. "
            "Please report this with the encoder name."
        )
    return fp32


def _verification(
    verified: _Verified,
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
        else _int8_figures(reference, fp32_probs, chosen.probs[ref.labelled], y, cuts)
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


def _measured(manifest: Manifest, graph: Path, load: Any, tok_json: str, out: Path) -> Manifest:
    """The speed line, the canaries (the shipped graph's answers on this CPU, which every load re-asks:
    `probe_runtime.canary`) and the card rendered from the finished manifest."""
    manifest = replace(manifest, speed=measure_speed(graph, manifest, tok_json))
    manifest = replace(manifest, canaries=record_canaries(load(graph).predict_proba, ort_version))
    facts = facts_from_manifest(manifest, out.stem)
    return replace(manifest, card=render_card(facts, picture_links(facts)))


def _requires_onnxruntime(shipped: Quantization) -> str | None:
    """The onnxruntime release the shipped graph needs beyond what its opset says (`probe_runtime.compat`)."""
    return version_text(BLOCKED_QUANTIZE_SINCE) if shipped is Quantization.INT8_PER_TOKEN else None


def _feeds(encoder: Any, texts: list[str]) -> dict[str, torch.Tensor]:
    """One padded batch of ``texts``, as the runtime would feed it."""
    tokens = text_encoder(encoder)
    return {
        k: torch.from_numpy(v) for k, v in next(tokens.batches(tokens.encode(texts), len(texts), 10**9)).feeds.items()
    }


def _int8_figures(
    reference: np.ndarray, fp32: np.ndarray, int8: np.ndarray, y: np.ndarray | None, cuts: np.ndarray | None = None
) -> Figures:
    """int8 against the fp32 file (flips, |Δp|), its accuracy, and its agreement with PyTorch."""
    figures = compare(fp32, int8, y, cuts)
    return replace(
        figures,
        agreement=None,
        flip_rate=1.0 - (figures.agreement or 0.0),
        agreement_with_torch=compare(reference, int8, None, cuts).agreement,
    )


def _gate_message(failed: Candidate, model_dir: str | Path, out: str | Path, options: ExportOptions) -> str:
    """Why the explicitly requested precision was refused, with its figures, and what would succeed."""
    figures = failed.record.agreement
    return (
        f"--quantize {failed.name} fails the gate: {'; '.join(failed.reasons)} "
        f"(measured on {figures.texts} texts; max |Δp| {figures.max_abs_diff:.3f}). Nothing was written. "
        f"`probe export {model_dir} --out {out} --quantize auto` ships the fastest precision that passes "
        "(fp32 at worst); --max-flip-rate / --significance change the gate if this loss is acceptable."
    )


def _long_text_fields(manifest: Manifest, encoder: Any, options: ExportOptions) -> dict[str, Any]:
    """The long-text policy, resolved (stride, aggregate) and checked against the tokenizer.

    Verification runs with truncation, like the PyTorch reference; the policy only applies afterwards.
    """
    settings = resolve_long_text(
        replace(manifest, long_text=LongTextPolicy(options.long_text)),
        stride=options.window_stride or None,
        aggregate=options.window_aggregate,
    )
    Windower(text_encoder(encoder).tokenizer, manifest.max_length, manifest.labels, settings)  # validates the stride
    return {
        "long_text": LongTextPolicy(settings.policy),
        "window_stride": settings.stride,
        "window_aggregate": WindowAggregate(settings.aggregate),
    }
