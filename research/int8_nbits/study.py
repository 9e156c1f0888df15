"""onnxruntime's block-wise MatMulNBits (4/8-bit weights, int8 compute) against the default int8 graph.

    .venv/bin/python -m research.int8_nbits.study      # ~5 min on 2 idle cores

Block-wise quantization also quantizes activations per block of 32 input channels (accuracy level 4),
which sidesteps the [CLS] outliers that make per-tensor dynamic int8 flip predictions
(research/int8_rowwise/int8_rowwise.md). Same probe, fp32 graph and SST-2 dev sentences as
research/int8_variants (``benchmarks.int8.sst2_probe.setup``); attention either stays fused (its QKV weights then stay
fp32) or is unfused first (``probe_export.rowwise.unfuse_attention``) so that QKV gets MatMulNBits too.
Throughput: texts per CPU-second, 1 thread, median of 3 interleaved repetitions.
Writes research/int8_nbits/int8_nbits.{json,md}.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path

import onnx
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
from probe_export.graph import quantize_int8
from probe_export.rowwise import unfuse_attention
from probe_runtime import Classifier

from benchmarks.common.record import write_results
from benchmarks.int8.sst2_probe import setup

RESULTS = Path(__file__).resolve().parent

REPS = 3


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    logging.disable(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="int8-nbits-"))
    _, _, test, manifest, tok, _, fp32 = setup(work)
    unfused = work / "unfused.onnx"
    unfuse_attention(fp32, unfused)
    files = {"fp32": fp32, "dynamic int8 (default)": work / "int8.onnx"}
    quantize_int8(fp32, files["dynamic int8 (default)"])
    for bits in (8, 4):
        for kind, source in (("attention fused", fp32), ("attention unfused", unfused)):
            quantizer = MatMulNBitsQuantizer(
                onnx.load(str(source)), bits=bits, block_size=32, is_symmetric=True, accuracy_level=4
            )
            quantizer.process()
            path = work / f"nbits{bits}-{kind.split()[1]}.onnx"
            quantizer.model.save_model_to_file(str(path), use_external_data_format=False)
            files[f"MatMulNBits {bits}-bit, block 32, {kind}"] = path
    models = {name: Classifier.from_graph(path, manifest, tok, threads=1) for name, path in files.items()}
    reference = models["fp32"].predict_proba(test.texts)
    rows: dict[str, dict] = {}
    for name, model in models.items():
        probs = model.predict_proba(test.texts)
        rows[name] = {
            "flip_rate": float((probs.argmax(1) != reference.argmax(1)).mean()),
            "accuracy": float((probs.argmax(1) == test.y).mean()),
            "mb": files[name].stat().st_size / 1e6,
            "texts_per_cpu_s": [],
        }
    for _ in range(REPS):
        for name, model in models.items():
            start = time.process_time()
            model.predict_proba(test.texts)
            rows[name]["texts_per_cpu_s"].append(len(test) / (time.process_time() - start))
    default = statistics.median(rows["dynamic int8 (default)"]["texts_per_cpu_s"])
    lines = [
        "| variant | flips vs fp32 | accuracy | MB | texts per CPU-s (1 thread) | vs default int8 |",
        "|---|---|---|---|---|---|",
    ]
    for name, row in rows.items():
        rate = statistics.median(row["texts_per_cpu_s"])
        lines.append(
            f"| {name} | {row['flip_rate']:.2%} | {row['accuracy']:.4f} | {row['mb']:.1f} | {rate:.0f} "
            f"| {rate / default:.2f} |"
        )
    write_results(RESULTS / "int8_nbits.json", {"n_test": len(test), "variants": rows}, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
