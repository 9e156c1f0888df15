"""What every exported file goes through after its fp32 graph exists, whatever computes its vectors (the
transformer, `pipeline`; a static table, `static_export`): the texts it is verified on, fp32 against the
PyTorch reference, the quantized candidate's figures, the speed line, canaries and card, the gate's refusal.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
from onnxruntime import __version__ as ort_version
from probe_runtime import ProbeError
from probe_runtime.artifact import Manifest
from probe_runtime.canary import record_canaries
from probe_runtime.choices import LongTextPolicy, Quantization, WindowAggregate
from probe_runtime.compat import BLOCKED_QUANTIZE_SINCE, version_text
from probe_runtime.long_text import Windower, resolve_long_text
from probe_runtime.records import Figures
from probe_train.data import align_labels, load_dataset
from probe_train.embeddings import text_encoder
from probe_train.model_dir import TrainedModel

from .card import facts_from_manifest, picture_links, render_card
from .decisions import load_multilabel_eval
from .options import ExportOptions
from .precision import Candidate
from .speed import measure_speed
from .verify import compare

__all__ = [
    "ExportError",
    "Verified",
    "checked_fp32",
    "gate_message",
    "int8_figures",
    "long_text_fields",
    "measured",
    "requires_onnxruntime",
    "verification_texts",
]


class ExportError(ProbeError):
    """The exported graph does not reproduce the trained model closely enough to be shipped."""


def verification_texts(trained: TrainedModel, options: ExportOptions) -> tuple[list[str], np.ndarray | None, str]:
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


@dataclass(frozen=True)
class Verified:
    """The texts the file is verified on (``y``: their labels, None without), where they come from, and
    what PyTorch answers on them: the reference every graph is held to."""

    texts: list[str]
    y: np.ndarray | None
    source: str
    reference: np.ndarray
    thresholds: np.ndarray | None = None  # multi-label: each label's threshold, in label order


def checked_fp32(verified: Verified, fp32_probs: np.ndarray, options: ExportOptions) -> Figures:
    """The fp32 graph against PyTorch; beyond the tolerance nothing is shipped."""
    fp32 = compare(verified.reference, fp32_probs, verified.y, verified.thresholds)
    if fp32.max_abs_diff is not None and fp32.max_abs_diff > options.fp32_tolerance:
        raise ExportError(
            f"the fp32 ONNX graph differs from PyTorch by up to {fp32.max_abs_diff:.2e} "
            f"in probability (tolerance {options.fp32_tolerance:.0e}); the export is not trustworthy. "
            "Please report this with the encoder name."
        )
    return fp32


def measured(manifest: Manifest, graph: Path, load: Any, tok_json: str, out: Path) -> Manifest:
    """The speed line, the canaries (the shipped graph's answers on this CPU, which every load re-asks:
    `probe_runtime.canary`) and the card rendered from the finished manifest."""
    manifest = replace(manifest, speed=measure_speed(graph, manifest, tok_json))
    manifest = replace(manifest, canaries=record_canaries(load(graph).predict_proba, ort_version))
    facts = facts_from_manifest(manifest, out.stem)
    return replace(manifest, card=render_card(facts, picture_links(facts)))


def requires_onnxruntime(shipped: Quantization) -> str | None:
    """The onnxruntime release the shipped graph needs beyond what its opset says (`probe_runtime.compat`)."""
    return version_text(BLOCKED_QUANTIZE_SINCE) if shipped is Quantization.INT8_PER_TOKEN else None


def int8_figures(
    reference: np.ndarray, fp32: np.ndarray, int8: np.ndarray, y: np.ndarray | None, cuts: np.ndarray | None = None
) -> Figures:
    """int8 against the fp32 file (flips, |Δp|), its accuracy, and its agreement with PyTorch (``cuts``: a
    multi-label file's thresholds, so a flip is any label's decision changing)."""
    figures = compare(fp32, int8, y, cuts)
    return replace(
        figures,
        agreement=None,
        flip_rate=1.0 - (figures.agreement or 0.0),
        agreement_with_torch=compare(reference, int8, None, cuts).agreement,
    )


def gate_message(failed: Candidate, model_dir: str | Path, out: str | Path, options: ExportOptions) -> str:
    """Why the explicitly requested precision was refused, with its figures, and what would succeed."""
    figures = failed.record.agreement
    return (
        f"--quantize {failed.name} fails the gate: {'; '.join(failed.reasons)} "
        f"(measured on {figures.texts} texts; max |Δp| {figures.max_abs_diff:.3f}). Nothing was written. "
        f"`probe export {model_dir} --out {out} --quantize auto` ships the fastest precision that passes "
        "(fp32 at worst); --max-flip-rate / --significance change the gate if this loss is acceptable."
    )


def long_text_fields(manifest: Manifest, encoder: Any, options: ExportOptions) -> dict[str, Any]:
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
