"""ONNX graph building: export, transformer fusions, int8 quantization.

Stack choice (see README, design notes): plain ``torch.onnx.export`` (TorchScript exporter) of the
encoder loaded with eager attention, then onnxruntime's own transformer optimizer and quantizer.
The dynamo exporter and sdpa attention produce graphs those fusions do not recognise, and Optimum's
exporter now lives in ``optimum-onnx``, which pins an older transformers.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path

import torch
from probe_runtime.artifact import EMBEDDINGS_NAME, OUTPUT_NAME
from probe_train.errors import FieldError

from .fusions import apply_architecture_fusions, attention_first_residuals
from .module import ClassifierModule

__all__ = [
    "ARCHITECTURE_COST",
    "OPSET",
    "UNFUSED_COST",
    "WEIGHT_BITS",
    "export_onnx",
    "optimize",
    "quantize_int8",
    "unfused_attention",
    "unfused_attention_warning",
]

log = logging.getLogger(__name__)
OPSET = 20
# CPU time per text, default int8-per-token, research/attention_fusion (`unfused_attention_warning`):
# all-mpnet-base-v2 with its attention unfused over fused (batch 1: 1.04x; batch 32: 0.98x) ...
UNFUSED_COST = 1.05
# ... and architectures left unfused over a fused BERT of the same (MiniLM) size: their attention does more work.
ARCHITECTURE_COST = {"deberta-v2": 2.5, "modernbert": 1.3}


def export_onnx(module: ClassifierModule, sample: dict[str, torch.Tensor], path: Path) -> None:
    """Trace the module to ONNX with dynamic batch and sequence axes."""
    names = module.input_names
    axes = {name: {0: "batch", 1: "sequence"} for name in names}
    axes |= {OUTPUT_NAME: {0: "batch"}, EMBEDDINGS_NAME: {0: "batch"}}
    with warnings.catch_warnings(), torch.no_grad():
        warnings.simplefilter("ignore")
        torch.onnx.export(
            module,
            tuple(sample[name] for name in names),
            str(path),
            input_names=names,
            output_names=[OUTPUT_NAME, EMBEDDINGS_NAME],
            dynamic_axes=axes,
            opset_version=OPSET,
            dynamo=False,
        )


def optimize(
    source: Path, target: Path, num_heads: int, hidden_size: int, model_type: str = "bert", layers: int | None = None
) -> dict[str, int]:
    """Apply onnxruntime's transformer fusions (attention, layer norm, GELU), then those onnxruntime does not
    have for ``model_type`` (`probe_export.fusions`); returns fused-op counts.

    ``layers``: the attention blocks in the graph; when fewer are fused, a one-line warning says so and what
    it was measured to cost (`unfused_attention_warning`).
    """
    import onnx
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    raw = onnx.load(str(source))
    if attention_first_residuals(raw):  # ALBERT's first layer (probe_export.fusions)
        source = target.with_name(f"{target.stem}-residuals.onnx")
        onnx.save(raw, str(source))
    del raw
    options = FusionOptions("bert")
    # Same maths, but onnxruntime's CPU SkipLayerNormalization kernel is ~5x slower than Add +
    # LayerNormalization at these shapes: +51 % texts per CPU-second (docs/benchmarks.md).
    options.enable_skip_layer_norm = False
    # Keep the FFN bias separate from the GELU: onnxruntime then folds the bias into the int8 matmul and
    # runs opset 20's Gelu instead of its BiasGelu kernel: identical outputs, +6 % texts per CPU-second
    # for the whole graph (benchmarks/runtime_levers.py).
    options.enable_bias_gelu = False
    optimized = optimize_model(
        str(source), model_type="bert", num_heads=num_heads, hidden_size=hidden_size, optimization_options=options
    )
    apply_architecture_fusions(optimized, model_type, num_heads, hidden_size)
    stats = {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}
    warning = unfused_attention_warning(model_type, stats, layers)
    if warning:
        log.warning("%s", warning)
    optimized.save_model_to_file(str(target))
    return stats


def unfused_attention(stats: dict[str, int], layers: int) -> int:
    """How many of the graph's ``layers`` attention blocks no fused attention op runs."""
    return max(0, layers - stats.get("Attention", 0) - stats.get("MultiHeadAttention", 0))


def unfused_attention_warning(model_type: str, stats: dict[str, int], layers: int | None) -> str | None:
    """One line when attention stays (partly) unfused, with the measured cost; None when all of it is fused.

    Costs (research/attention_fusion, AMD EPYC without AMX, shared machine, interleaved): DeBERTa-v2 and
    ModernBERT from random encoders of MiniLM's size against a fused BERT of that size (`ARCHITECTURE_COST`);
    any other architecture from MPNet's own attention unfused vs fused (`UNFUSED_COST`: small, because at
    SST-2 lengths the int8 matmuls take ~3/4 of the time and the attention core little).
    """
    if layers is None or layers == 0:
        return None
    left = unfused_attention(stats, layers)
    if not left:
        return None
    fused = layers - left
    shared = " shared-weight" if model_type == "albert" else ""
    what = (
        f"attention fused in {fused} of {layers}{shared} layers"
        if fused
        else f"attention left unfused in all {layers} layers"
    )
    if model_type in ARCHITECTURE_COST:
        cost = f"measured: {ARCHITECTURE_COST[model_type]:g}x the CPU time per text of a fused BERT of the same size"
    else:
        cost = f"measured on MPNet: unfused attention takes up to {UNFUSED_COST:g}x the CPU time per text"
    return f"{model_type}: {what} (onnxruntime has no fusion for it); {cost} (research/attention_fusion)"


# 7-bit weights (-64..64): no u8 x s8 product pair can pass 32,767, so the integers are the same on every x86 kernel
# (probe_export.exactness; research/int8_exact measured the candidates).
WEIGHT_BITS = 7


def quantize_int8(
    source: Path, target: Path, per_token: bool = False, weight_bits: int = WEIGHT_BITS, activation_levels: int = 127
) -> None:
    """Dynamic int8 quantization with per-channel weights (half the error of per-tensor, same speed).

    ``weight_bits`` 7 (onnxruntime's ``reduce_range``) keeps the integer arithmetic exact on AVX2 and AVX-512 without
    VNNI, whose kernels add pairs of u8 x s8 products into a saturating int16 (`probe_export.exactness`); 8 is the
    recipe shipped before, for comparison only. ``activation_levels``: the per-token form's largest |q| (127; 63 is
    the 7-bit-activation alternative research/int8_exact measured).

    ``per_token``: one activation scale per token instead of per batch (``probe_export.rowwise``):
    results no longer depend on the batch, about half the flips, 0.76-0.81x the speed of per-batch int8
    (research/per_token_speed, Xeon with AMX, shared machine).
    """
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    from .rowwise import rowwise_activations, unfuse_attention

    # Per token: every Attention (QAttention has one input scale). Per batch: only those with an
    # attention_bias (MPNet's, probe_export.fusions), which QAttention lacks and the quantizer would drop.
    unfused = target.with_name(f"{target.stem}-unfused.onnx")
    if unfuse_attention(source, unfused, only_biased=not per_token):
        source = unfused
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)  # the quantizer logs a "run pre-processing" hint at WARNING on root
    try:
        quantize_dynamic(
            str(source),
            str(target),
            weight_type=QuantType.QInt8,
            per_channel=True,
            reduce_range=weight_bits == 7,
            # The fused graph carries ops without type info; without this the quantizer refuses it.
            extra_options={"DefaultTensorType": onnx.TensorProto.FLOAT},
        )
    finally:
        root.setLevel(level)
    if per_token and not rowwise_activations(target, target, symmetric=True, levels=activation_levels):
        raise FieldError(
            "int8-per-token found no quantized matmul to rewrite in this graph; use {quantize} int8", "quantize"
        )
