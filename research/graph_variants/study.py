"""Which int8 graph is fastest without costing accuracy? Builds variants of a *copy* of an fp32 artifact.

The export graph belongs to ``probe_export.graph``; this script only experiments on copies and prints
measured numbers (texts/s, batch-1 p50, argmax agreement and max |Δp| against the fp32 file), so the
winning options can be moved into the exporter with evidence. Usage::

    .venv/bin/python -m research.graph_variants.study artifacts/pi-fp32.onnx --out benchmarks/.variants

Writes OUT/results.json and OUT/results.md (the figures are not kept in the repository: docs/benchmarks.md
quotes them).

Variants are combinations of: ``SkipLayerNormalization`` kept or split into Add + LayerNormalization
(onnxruntime 1.2x's CPU SkipLayerNormalization kernel is several times slower than the two plain
ops), which op types are quantized, per-channel or per-tensor weights, and session options.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from probe_export.writer import write_artifact
from probe_runtime.artifact import manifest_from_metadata
from probe_runtime.choices import Quantization
from probe_runtime.classifier import Classifier, session_options

from benchmarks.common.record import write_results
from benchmarks.data.texts import load_texts

FLOAT = onnx.TensorProto.FLOAT


def split_skip_layer_norm(model: onnx.ModelProto) -> int:
    """Replace every SkipLayerNormalization by Add (+ bias Add) and a standard LayerNormalization."""
    nodes, count = [], 0
    for node in model.graph.node:
        if node.op_type != "SkipLayerNormalization":
            nodes.append(node)
            continue
        count += 1
        eps = next((a.f for a in node.attribute if a.name == "epsilon"), 1e-12)
        x, skip, gamma, beta = node.input[:4]
        bias = node.input[4] if len(node.input) > 4 and node.input[4] else ""
        total = f"{node.name or node.output[0]}_sum"
        summed = node.output[3] if len(node.output) > 3 and node.output[3] else total
        if bias:
            nodes.append(helper.make_node("Add", [x, bias], [total + "_b"]))
            x = total + "_b"
        nodes.append(helper.make_node("Add", [x, skip], [summed]))
        nodes.append(helper.make_node("LayerNormalization", [summed, gamma, beta], [node.output[0]], epsilon=eps))
    del model.graph.node[:]
    model.graph.node.extend(nodes)
    return count


def bias_gelu_to_fast_gelu(model: onnx.ModelProto) -> int:
    """BiasGelu (exact erf) → FastGelu (tanh approximation): cheaper, but not bit-compatible."""
    count = 0
    for node in model.graph.node:
        if node.op_type == "BiasGelu":
            node.op_type = "FastGelu"
            count += 1
    return count


def quantize(source: Path, target: Path, per_channel: bool, op_types: list[str] | None, extra: dict) -> None:
    from onnxruntime.quantization import QuantType, quantize_dynamic

    logging.getLogger().setLevel(logging.ERROR)
    quantize_dynamic(
        str(source),
        str(target),
        weight_type=QuantType.QInt8,
        per_channel=per_channel,
        op_types_to_quantize=op_types,
        extra_options={"DefaultTensorType": FLOAT, **extra},
    )


def export_raw(model_dir: Path, target: Path) -> tuple[int, int]:
    """The unfused fp32 graph, exported exactly as ``probe export`` does (its own functions)."""
    import torch
    from probe_export.graph import export_onnx
    from probe_export.module import build_module
    from probe_train.embeddings import text_encoder
    from probe_train.model_dir import load_trained

    module, encoder = build_module(load_trained(model_dir))
    tokens = text_encoder(encoder)
    sample = next(tokens.batches(tokens.encode(["a sample", "another sample text"]), 2, 10**9)).feeds
    export_onnx(module, {k: torch.from_numpy(v) for k, v in sample.items()}, target)
    return encoder.model.config.num_attention_heads, encoder.model.config.hidden_size


def fuse(raw: Path, target: Path, heads: int, hidden: int, **flags: bool) -> dict[str, int]:
    """onnxruntime's transformer optimizer with non-default fusion options."""
    from onnxruntime.transformers.fusion_options import FusionOptions
    from onnxruntime.transformers.optimizer import optimize_model

    options = FusionOptions("bert")
    for key, value in flags.items():
        setattr(options, key, value)
    optimized = optimize_model(
        str(raw), model_type="bert", num_heads=heads, hidden_size=hidden, optimization_options=options
    )
    optimized.save_model_to_file(str(target))
    return {k: int(v) for k, v in optimized.get_fused_operator_statistics().items() if v}


def build(
    raw: Path, out: Path, name: str, dims: tuple[int, int], fusion: dict, quant: dict | None, fast_gelu: bool = False
) -> Path:
    stage = out / f"{name}.fp32.onnx"
    stats = fuse(raw, stage, *dims, **fusion)
    print(f"  {name}: fused {stats}", flush=True)
    if fast_gelu:
        model = onnx.load(str(stage))
        bias_gelu_to_fast_gelu(model)
        onnx.save(model, str(stage))
    if quant is None:
        return stage
    target = out / f"{name}.onnx"
    quantize(stage, target, **quant)
    stage.unlink()
    return target


def session(path: Path, threads: int, disabled: list[str], config: dict[str, str]) -> ort.InferenceSession:
    options = session_options(threads)  # the runtime's settings; variants add or disable on top
    for key, value in config.items():
        options.add_session_config_entry(key, value)
    return ort.InferenceSession(
        str(path), options, providers=["CPUExecutionProvider"], disabled_optimizers=disabled or None
    )


def measure(clf: Classifier, texts: list[str], reps: int, batch_size: int, max_tokens: int) -> dict:
    """Median wall-clock and CPU-time throughput (CPU time is the steadier figure on a shared machine)."""
    clf.predict_proba(texts[:256], batch_size=batch_size, max_tokens=max_tokens)
    wall, cpu = [], []
    for _ in range(reps):
        start, cpu_start = time.perf_counter(), time.process_time()
        clf.predict_proba(texts, batch_size=batch_size, max_tokens=max_tokens)
        wall.append(len(texts) / (time.perf_counter() - start))
        cpu.append(len(texts) / (time.process_time() - cpu_start))
    lat, lat_cpu = [], []
    for text in texts[:300]:
        start, cpu_start = time.perf_counter(), time.process_time()
        clf.predict_proba([text])
        lat.append(time.perf_counter() - start)
        lat_cpu.append(time.process_time() - cpu_start)
    return {
        "texts_per_s": statistics.median(wall),
        "texts_per_cpu_s": statistics.median(cpu),
        "p50_ms": 1e3 * float(np.percentile(lat, 50)),
        "p50_cpu_ms": 1e3 * float(np.percentile(lat_cpu, 50)),
    }


def markdown(results: dict[str, dict[str, float]]) -> str:
    """One row per variant, one column per measured figure."""
    columns = list(next(iter(results.values()), {}))
    lines = ["| variant | " + " | ".join(columns) + " |", "|---|" + "---|" * len(columns)]
    lines += [f"| {name} | " + " | ".join(f"{row[c]:.4g}" for c in columns) + " |" for name, row in results.items()]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("model_dir", type=Path, help="a trained model directory (probe train --out)")
    parser.add_argument("fp32", type=Path, help="its fp32 artifact (probe export --quantize none): the reference")
    parser.add_argument("--out", type=Path, default=Path("benchmarks/.variants"))
    parser.add_argument("--threads", type=int, default=1)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--texts", default="sst2", help="text set name (see benchmarks/data/texts.py)")
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--max-tokens", type=int, default=4096)
    parser.add_argument("--only", nargs="*", help="variant names to run")
    parser.add_argument(
        "--write-artifact",
        nargs=2,
        metavar=("VARIANT", "TARGET"),
        help="only build VARIANT and write it as a runnable artifact (metadata copied from FP32, marked int8)",
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    meta = {p.key: p.value for p in onnx.load(str(args.fp32), load_external_data=False).metadata_props}
    manifest, tokenizer_json = manifest_from_metadata(meta, str(args.fp32))
    texts = load_texts(args.texts, args.n)

    raw = args.out / "raw.onnx"
    dims = export_raw(args.model_dir, raw)
    pc: dict[str, Any] = {"per_channel": True, "op_types": None, "extra": {}}
    no_sln = {"enable_skip_layer_norm": False}
    mha = {"enable_skip_layer_norm": False, "use_multi_head_attention": True}
    keep = ["SkipLayerNormFusion"]
    variants: dict[str, tuple[Callable[[], Path], list[str], dict[str, str]]] = {
        "fp32": (lambda: args.fp32, [], {}),
        "int8-current": (lambda: build(raw, args.out, "int8-current", dims, {}, pc), [], {}),
        "int8-split-ln": (lambda: build(raw, args.out, "int8-split-ln", dims, no_sln, pc), keep, {}),
        "int8-split-ln-refused": (lambda: args.out / "int8-split-ln.onnx", [], {}),
        "int8-split-ln-per-tensor": (
            lambda: build(raw, args.out, "int8-sln-pt", dims, no_sln, {**pc, "per_channel": False}),
            keep,
            {},
        ),
        "int8-split-ln-fastgelu": (lambda: build(raw, args.out, "int8-sln-fg", dims, no_sln, pc, True), keep, {}),
        "int8-mha": (lambda: build(raw, args.out, "int8-mha", dims, mha, pc), keep, {}),
        "int8-mha-fastgelu": (lambda: build(raw, args.out, "int8-mha-fg", dims, mha, pc, True), keep, {}),
        "int8-unfused-attn": (
            lambda: build(raw, args.out, "int8-unfused", dims, {**no_sln, "enable_attention": False}, pc),
            keep,
            {},
        ),
        "int8-mha-nospin": (lambda: args.out / "int8-mha.onnx", keep, {"session.intra_op.allow_spinning": "0"}),
    }
    if args.write_artifact:
        name, target = args.write_artifact
        # A per-batch int8 graph like the product's, sealed the product's way so probe-runtime loads it.
        int8_manifest = replace(manifest, quantization=Quantization.INT8, created_by=f"graph_variants {name}")
        write_artifact(variants[name][0](), int8_manifest, tokenizer_json, Path(target))
        print(f"wrote {target}")
        return
    chosen = {k: v for k, v in variants.items() if not args.only or k in args.only}
    reference = Classifier(
        session(args.fp32, args.threads, [], {}), manifest, tokenizer_json, str(args.fp32), threads=1
    )
    ref = reference.predict_proba(texts)
    results = {}
    for name, (make, disabled, config) in chosen.items():
        path = make()
        clf = Classifier(session(path, args.threads, disabled, config), manifest, tokenizer_json, str(path), threads=1)
        proba = clf.predict_proba(texts)
        row = measure(clf, texts, args.reps, args.batch_size, args.max_tokens)
        row["agreement_fp32"] = float((proba.argmax(1) == ref.argmax(1)).mean())
        row["max_abs_diff"] = float(np.abs(proba - ref).max())
        row["size_mb"] = path.stat().st_size / 1e6
        results[name] = row
        print(f"{name:28s} " + "  ".join(f"{k} {v:.4g}" for k, v in row.items()), flush=True)
    write_results(args.out / "results.json", {"variants": results}, markdown(results))


if __name__ == "__main__":
    main()
