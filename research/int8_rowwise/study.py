"""Per-token activation quantization and outlier channel splitting for the int8 graph (issue #4).

    OMP_NUM_THREADS=1 .venv/bin/python -m research.int8_rowwise.study      # ~10 min, one core

Same probe, fp32 graph and data as research/int8_variants (``benchmarks.int8.sst2_probe.setup``): a MiniLM mean-pooling
probe on 2,000 SST-2 training phrases. First a numpy diagnosis of the real activations at every weight
MatMul / Attention input (256 *other* training phrases): where the outliers sit (which tokens, which
channels) and the quantization SQNR per tensor vs per row. Then int8 variants built from the default
graph (``quantize_dynamic``, per-channel int8 weights, per-tensor uint8 activations), see
research/int8_rowwise/graph.py, measured on the 872 SST-2 dev sentences: flips vs fp32, mean |Δp|,
accuracy, file size, throughput (one onnxruntime thread, one batch at a time, median of interleaved
repetitions, same run as the default graph) and batch-composition dependence (batched vs one text per
batch). Flips are also counted on 5,000 further training phrases (no labels needed), because on 872
texts one flip is 0.11 points. Outlier channels are chosen on training phrases, never on the eval set.
Writes research/int8_rowwise/int8_rowwise.{json,md}.
"""

from __future__ import annotations

import argparse
import logging
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from probe_export.graph import quantize_int8
from probe_export.rowwise import rowwise_activations, unfuse_attention
from probe_runtime import Classifier
from probe_train.data import load_dataset

from benchmarks.common.paths import dataset_file
from benchmarks.common.record import write_results
from benchmarks.int8.outliers import activation_maxima, weight_inputs
from benchmarks.int8.recipes import FLOAT, fake_asym, fake_sym
from benchmarks.int8.sst2_probe import setup
from research.int8_rowwise.graph import split_channels

RESULTS = Path(__file__).resolve().parent

REPS = 5


def _sqnr(x: np.ndarray, err: np.ndarray) -> float:
    return float(10 * np.log10((x**2).sum() / (err**2).sum()))


def diagnose(fp32: Path, batches: list[dict[str, np.ndarray]]) -> list[dict]:
    """Per weight-MatMul / Attention input: SQNR of per-tensor vs per-row int8, and where the outliers are."""
    model = onnx.load(str(fp32))
    names = list(weight_inputs(model))
    for name in names:
        model.graph.output.append(helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None))
    options = ort.SessionOptions()
    options.intra_op_num_threads = 1
    options.log_severity_level = 3
    session = ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    acc: dict[str, dict[str, Any]] = {
        n: {"sig": 0.0, "tensor": 0.0, "row": 0.0, "row_sym": 0.0, "rows": [], "ids": [], "abs": []} for n in names
    }
    for feeds in batches:
        mask = feeds["attention_mask"].astype(bool)
        for name, x in zip(names, session.run(names, feeds)):
            a = acc[name]
            xs = x[mask]  # real tokens only; the per-tensor range still sees the padded batch, as at run time
            a["sig"] += float((xs**2).sum())
            a["tensor"] += float(((fake_asym(x, None) - x)[mask] ** 2).sum())
            a["row"] += float(((fake_asym(xs, -1) - xs) ** 2).sum())
            a["row_sym"] += float(((fake_sym(xs, -1) - xs) ** 2).sum())
            a["rows"].append(np.abs(xs).max(-1))
            a["ids"].append(feeds["input_ids"][mask])
            a["abs"].append(np.abs(xs).max(0))
    out = []
    for name in names:
        a = acc[name]
        rows, ids = np.concatenate(a["rows"]), np.concatenate(a["ids"])
        top = np.argsort(-rows)[:100]
        channel_max = np.max(a["abs"], axis=0)
        worst = np.argsort(-channel_max)[:3]
        cls_rows = rows[ids == 101]
        out.append(
            {
                "input": name,
                "sqnr_per_tensor_db": 10 * np.log10(a["sig"] / a["tensor"]),
                "sqnr_per_row_db": 10 * np.log10(a["sig"] / a["row"]),
                "sqnr_per_row_sym_db": 10 * np.log10(a["sig"] / a["row_sym"]),
                "row_max_median": float(np.median(rows)),
                "row_max_cls_median": float(np.median(cls_rows)),
                "row_max_other_p99": float(np.percentile(rows[ids != 101], 99)),
                "top100_rows_cls_share": float((ids[top] == 101).mean()),
                "top_channels": [[int(c), float(channel_max[c] / np.median(channel_max))] for c in worst],
            }
        )
    return out


def main(argv: list[str] | None = None) -> int:
    argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter).parse_args(argv)
    logging.disable(logging.WARNING)
    work = Path(tempfile.mkdtemp(prefix="int8-rowwise-"))
    _, val, test, manifest, tok, tokens, fp32 = setup(work)
    full = load_dataset(dataset_file("sst2", "train"))
    order = np.random.default_rng(0).permutation(len(full))
    extra = full.subset(np.sort(order[3000:8000]), "sst2 train, 5000 further phrases").texts  # same order as setup
    calibration = [b.feeds for b in tokens.batches(tokens.encode(val.texts[:512]), 32, 10**9)]
    diagnosis = diagnose(fp32, calibration[:8])

    def quantize(source: Path, name: str) -> Path:
        out = work / f"{name}.onnx"
        quantize_dynamic(str(source), str(out), weight_type=QuantType.QInt8, per_channel=True, extra_options=FLOAT)
        return out

    default = work / "default.onnx"
    quantize_int8(fp32, default)
    unfuse_attention(fp32, work / "unfused-fp32.onnx")
    unfused = quantize(work / "unfused-fp32.onnx", "unfused")
    # channel maxima on training phrases, at every weight MatMul input incl. the unfused QKV MatMuls, whose
    # inputs are the fused graph's Attention inputs (same tensor names)
    maxima = activation_maxima(work / "unfused-fp32.onnx", calibration)
    splits = {}
    for ratio in (4.0, 2.0):
        splits[f"fused {ratio:g}"] = split_channels(fp32, work / f"ocs{ratio:g}-fp32.onnx", maxima, ratio, 64)
        splits[f"unfused {ratio:g}"] = split_channels(
            work / "unfused-fp32.onnx", work / f"ocs{ratio:g}-unfused-fp32.onnx", maxima, ratio, 64
        )

    def rowwise(source: Path, name: str, **options: object) -> Path:
        rowwise_activations(source, work / f"{name}.onnx", **options)
        return work / f"{name}.onnx"

    down = "output/dense/MatMul"  # FFN down-projections (input: GELU output); not attention/output/dense
    variants = {
        "fp32": fp32,
        "dynamic int8, per-tensor activations (default)": default,
        "per-row sym, FFN down-projections only": rowwise(
            default, "rw-down", symmetric=True, only=lambda n: down in n and "attention" not in n
        ),
        "per-row sym, all MatMuls (QAttention per-tensor)": rowwise(default, "rw-sym", symmetric=True),
        "per-row asym, all MatMuls (QAttention per-tensor)": rowwise(default, "rw-asym"),
        "per-row sym, all incl. QKV (Attention unfused)": rowwise(unfused, "rw-all-sym", symmetric=True),
        "per-row asym, all incl. QKV (Attention unfused)": rowwise(unfused, "rw-all-asym"),
        "OCS ratio 4 (MatMuls + QAttention inputs)": quantize(work / "ocs4-fp32.onnx", "ocs4"),
        "OCS ratio 2 (MatMuls + QAttention inputs)": quantize(work / "ocs2-fp32.onnx", "ocs2"),
        "OCS ratio 2 + per-row asym, all incl. QKV": rowwise(
            quantize(work / "ocs2-unfused-fp32.onnx", "ocs2-unfused"), "rw-ocs2"
        ),
    }
    models = {name: Classifier.from_graph(path, manifest, tok, threads=1) for name, path in variants.items()}
    reference = models["fp32"].predict_proba(test.texts)
    extra_reference = models["fp32"].predict_proba(extra)
    rows = {}
    for name, model in models.items():
        probs = model.predict_proba(test.texts)
        single = model.predict_proba(test.texts, batch_size=1)
        extra_probs = model.predict_proba(extra)
        rows[name] = {
            "flip_rate": float((probs.argmax(1) != reference.argmax(1)).mean()),
            "flips": int((probs.argmax(1) != reference.argmax(1)).sum()),
            "mean_abs_diff": float(np.abs(probs - reference).mean()),
            "accuracy": float((probs.argmax(1) == test.y).mean()),
            "flip_rate_5000_phrases": float((extra_probs.argmax(1) != extra_reference.argmax(1)).mean()),
            "mean_abs_diff_5000_phrases": float(np.abs(extra_probs - extra_reference).mean()),
            "batch_vs_single_max_abs_diff": float(np.abs(probs - single).max()),
            "batch_vs_single_flips": int((probs.argmax(1) != single.argmax(1)).sum()),
            "accuracy_single": float((single.argmax(1) == test.y).mean()),
            "mb": variants[name].stat().st_size / 1e6,
        }
    times: dict[str, list[float]] = {name: [] for name in models}
    for _ in range(REPS):
        for name, model in models.items():
            started = time.perf_counter()
            model.predict_proba(test.texts)
            times[name].append(len(test) / (time.perf_counter() - started))
    base = statistics.median(times["dynamic int8, per-tensor activations (default)"])
    for name, rates in times.items():
        median = statistics.median(rates)
        rows[name] |= {"texts_per_s": median, "min": min(rates), "max": max(rates), "vs_default": median / base}
    result = {
        "test": "sst2 dev (872)",
        "threads": "1 onnxruntime thread, one batch at a time",
        "repetitions": REPS,
        "onnxruntime": ort.__version__,
        "diagnosis": diagnosis,
        "split_channels": {k: sum(v.values()) for k, v in splits.items()},
        "variants": rows,
    }
    lines = [
        "Diagnosis (256 training phrases; SQNR of int8 fake quantization of the real activations, dB):",
        "",
        "| MatMul / Attention input | per tensor | per row asym | per row sym | row max: median / [CLS] median "
        "/ other p99 | top-100 rows that are [CLS] | top channels (x median channel max) |",
        "|---|---|---|---|---|---|---|",
    ]
    for d in diagnosis:
        lines.append(
            f"| `{d['input'].removeprefix('/encoder/encoder/')}` | {d['sqnr_per_tensor_db']:.1f} | "
            f"{d['sqnr_per_row_db']:.1f} | {d['sqnr_per_row_sym_db']:.1f} | {d['row_max_median']:.1f} / "
            f"{d['row_max_cls_median']:.1f} / {d['row_max_other_p99']:.1f} | {d['top100_rows_cls_share']:.0%} | "
            + ", ".join(f"{c} ({r:.1f}x)" for c, r in d["top_channels"])
            + " |"
        )
    lines += [
        "",
        f"Variants (SST-2 dev, 872 sentences; flips also on 5,000 other training phrases; {REPS} interleaved "
        "repetitions, 1 onnxruntime thread, one batch at a time; speed ratio vs the default in the same run):",
        "",
        "| variant | flips vs fp32 | mean abs Δp | accuracy | flips, 5,000 phrases | batched vs one-by-one: "
        "max abs Δp (flips), accuracy one-by-one | MB | texts/s (min–max) | vs default |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        lines.append(
            f"| {name} | {r['flip_rate']:.2%} ({r['flips']}) | {r['mean_abs_diff']:.4f} | {r['accuracy']:.4f} | "
            f"{r['flip_rate_5000_phrases']:.2%} | {r['batch_vs_single_max_abs_diff']:.1e} "
            f"({r['batch_vs_single_flips']}), {r['accuracy_single']:.4f} | {r['mb']:.1f} | {r['texts_per_s']:.0f} "
            f"({r['min']:.0f}–{r['max']:.0f}) | {r['vs_default']:.2f} |"
        )
    lines += [
        "",
        "Extra input channels added by OCS: "
        + ", ".join(f"{k}: {v}" for k, v in result["split_channels"].items())
        + f" (onnxruntime {ort.__version__}).",
    ]
    write_results(RESULTS / "int8_rowwise.json", result, "\n".join(lines))
    print("\n".join(lines))
    return 0


if __name__ == "__main__":
    sys.exit(main())
