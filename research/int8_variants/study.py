"""Which int8 recipe keeps fp32's predictions, and at what speed? (issue: int8 that keeps its accuracy)

    .venv/bin/python -m research.int8_variants.study            # ~15 min on 2 idle cores

Trains a MiniLM mean-pooling probe on 2,000 SST-2 training phrases, exports the fused fp32 graph
through the real exporter, then builds int8 variants of it and measures, on the 872 SST-2 dev
sentences: flips against fp32, mean |Δp|, accuracy, file size and throughput (2 threads, median of
interleaved repetitions). Per-node sensitivity is measured on 1,000 *other* training phrases, never
on the evaluation set. Writes research/int8_variants/int8_variants.{json,md}.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import onnx
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
from probe_runtime import Classifier
from probe_train.probe import fit_probe, softmax_head

from benchmarks.common.record import write_results
from benchmarks.int8.outliers import OUTLIER_SUFFIX, activation_maxima, split_outliers
from benchmarks.int8.recipes import FLOAT
from benchmarks.int8.sst2_probe import setup

RESULTS = Path(__file__).resolve().parent


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    logging.disable(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="int8-variants-"))
    train, val, test, manifest, tok, tokens, fp32 = setup(work)

    def run(path: Path, texts: list[str]) -> np.ndarray:
        return Classifier.from_graph(path, manifest, tok, threads=2).predict_proba(texts)

    def dynamic(name: str, source: Path = fp32, **options: object) -> Path:
        out = work / f"{name}.onnx"
        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, extra_options=FLOAT, **options)
        return out

    # per-node sensitivity: quantize one node alone, mean |Δp| on validation phrases
    graph = onnx.load(str(fp32))
    candidates = [n.name for n in graph.graph.node if n.op_type in ("MatMul", "Attention", "EmbedLayerNormalization")]
    val_ref = run(fp32, val.texts)
    sensitivity = {}
    for node in candidates:
        probs = run(dynamic("one", per_channel=True, nodes_to_quantize=[node]), val.texts)
        sensitivity[node] = float(np.abs(probs - val_ref).mean())
    ranked = sorted(sensitivity, key=lambda node: sensitivity[node], reverse=True)
    head = [n.name for n in graph.graph.node if any(i.startswith("head.") for i in n.input)]
    head += [f"{n}_MatMul" for n in head]

    maxima = activation_maxima(fp32, (b.feeds for b in tokens.batches(tokens.encode(val.texts[:512]), 32, 10**9)))
    split_outliers(fp32, work / "outliers-fp32.onnx", maxima)
    outlier_nodes = [
        n.name for n in onnx.load(str(work / "outliers-fp32.onnx")).graph.node if n.name.endswith(OUTLIER_SUFFIX)
    ]
    nbits = MatMulNBitsQuantizer(onnx.load(str(fp32)), bits=8, block_size=32, is_symmetric=True, accuracy_level=4)
    nbits.process()
    nbits.model.save_model_to_file(str(work / "nbits8.onnx"), use_external_data_format=False)

    variants = {
        "fp32": fp32,
        "dynamic int8, per-channel (default)": dynamic("pc", per_channel=True),
        "dynamic int8, per-tensor": dynamic("pt", per_channel=False),
        "+ head in fp32": dynamic("nohead", per_channel=True, nodes_to_exclude=head),
        "+ embeddings and head in fp32": dynamic(
            "noemb", per_channel=True, nodes_to_exclude=head, op_types_to_quantize=["MatMul", "Attention"]
        ),
        "+ 3 most sensitive nodes in fp32": dynamic("top3", per_channel=True, nodes_to_exclude=ranked[:3]),
        "+ 6 most sensitive nodes in fp32": dynamic("top6", per_channel=True, nodes_to_exclude=ranked[:6]),
        "+ outlier channels in fp32 (LLM.int8-style)": dynamic(
            "outl", work / "outliers-fp32.onnx", per_channel=True, nodes_to_exclude=outlier_nodes
        ),
        "MatMulNBits 8-bit, block 32, int8 compute": work / "nbits8.onnx",
    }
    reference = run(fp32, test.texts)
    rows = {}
    for name, path in variants.items():
        probs = run(path, test.texts)
        rows[name] = {
            "flip_rate": float((probs.argmax(1) != reference.argmax(1)).mean()),
            "mean_abs_diff": float(np.abs(probs - reference).mean()),
            "accuracy": float((probs.argmax(1) == test.y).mean()),
            "mb": path.stat().st_size / 1e6,
        }
    # refit: the head fitted on the int8 graph's own embeddings of the training phrases
    int8 = Classifier.from_graph(variants["+ head in fp32"], manifest, tok, threads=2)
    weight, bias = softmax_head(fit_probe(int8.embed(train.texts), train.y, seed=0))
    logits = int8.embed(test.texts) @ weight.T + bias
    refit = np.exp(logits - logits.max(1, keepdims=True))
    refit /= refit.sum(1, keepdims=True)
    rows["+ head in fp32, head refit on int8 embeddings"] = {
        "flip_rate": float((refit.argmax(1) != reference.argmax(1)).mean()),
        "mean_abs_diff": float(np.abs(refit - reference).mean()),
        "accuracy": float((refit.argmax(1) == test.y).mean()),
        "mb": rows["+ head in fp32"]["mb"],
    }
    models = {name: Classifier.from_graph(path, manifest, tok, threads=2) for name, path in variants.items()}
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(5):
        for name, model in models.items():
            started = time.perf_counter()
            model.predict_proba(test.texts)
            times[name].append(len(test) / (time.perf_counter() - started))
    for name, rates in times.items():
        rows[name] |= {"texts_per_s": statistics.median(rates), "min": min(rates), "max": max(rates)}
    result = {"test": "sst2 dev (872)", "train": len(train), "sensitivity": sensitivity, "variants": rows}
    lines = [
        "| variant | flips vs fp32 | mean abs Δp | accuracy | MB | texts/s (min–max) |",
        "|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        speed = f"{r['texts_per_s']:.0f} ({r['min']:.0f}–{r['max']:.0f})" if "texts_per_s" in r else "as above"
        lines.append(
            f"| {name} | {r['flip_rate']:.2%} | {r['mean_abs_diff']:.4f} | {r['accuracy']:.4f} | "
            f"{r['mb']:.1f} | {speed} |"
        )
    lines += [
        "",
        "Most sensitive nodes (mean |Δp| when quantized alone, 1,000 validation phrases): "
        + ", ".join(f"`{n}` {sensitivity[n]:.4f}" for n in ranked[:6]),
    ]
    write_results(RESULTS / "int8_variants.json", result, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
