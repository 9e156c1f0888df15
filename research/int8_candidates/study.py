"""Which precisions should `probe export --quantize auto` try, in what order? (issue 19)

    .venv/bin/python -m research.int8_candidates.study [--datasets ...] [--mpnet DATASET]
    # ~25 min for the four shared datasets on 2 shared cores; --mpnet adds MPNet on SMS spam (~15 min)

For each shared dataset it trains the MiniLM probe with the real CLI (`probe train`; SST-2 on a seeded,
stratified 2,000-phrase subset of its training set, as docs/results.md does, to keep time down),
exports the fp32 file with `probe export --quantize none`, and builds every candidate precision from
that fp32 graph:

- **int8 (today's default)**: `quantize_dynamic`, per-channel weights, one activation scale per batch.
- **int8-per-token**: `probe_export.rowwise`, attention unfused so QKV is int8 too.
- **per-token, attention fp32**: the same, but the fused Attention (QKV matmul) stays fp32.
- **per-token + fp32 outlier channels**: before quantizing, the few input channels whose max |x| on
  256 training texts exceeds 6x the median channel's go through a small fp32 matmul
  (benchmarks/int8/outliers.py), so the per-token scale is set by the ordinary channels.
- **NBits8 b32 / b128**: onnxruntime's MatMulNBits 8-bit, accuracy level 4 (per-block activation
  scales, int8 compute), attention unfused.

Measured on the same texts for all candidates (the texts are never used to choose anything):
- flips vs fp32 and max |Δp| on >= 2,000 texts where the data has them (training texts + test texts);
- accuracy on the labelled test split and McNemar's exact test on its discordant texts (b = fp32 right,
  candidate wrong; c = the reverse; the json keeps the two-sided exact p, the table the one-sided p
  that the candidate is worse);
- batch independence: 200 texts alone vs (a) inside the length-sorted batches `predict_proba` makes of
  the whole list and (b) inside a random batch of 7 other texts padded to the longest: max |Δp|
  and how many labels change;
- speed, as ratios to today's default int8 and to fp32 measured in the same run, interleaved:
  batched texts/s over the test texts (2 threads, the runtime's defaults) and one text per call
  (median latency over 100 texts, as an app calling `predict(text)`).

Writes research/int8_candidates/int8_candidates.{json,md}, naming the CPU (lscpu model, AMX or not).
"""

from __future__ import annotations

import argparse
import json
import logging
import statistics
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from onnxruntime.quantization.matmul_nbits_quantizer import MatMulNBitsQuantizer
from probe_export.gate import agreement, paired_accuracy
from probe_export.graph import quantize_int8
from probe_export.rowwise import rowwise_activations, unfuse_attention
from probe_runtime import Classifier
from probe_runtime.artifact import OUTPUT_NAME, manifest_from_metadata
from probe_train.data import align_labels, load_dataset
from scipy.stats import binomtest

from benchmarks.common.host import cpu_name
from benchmarks.common.paths import WORK as _WORK
from benchmarks.common.paths import dataset_file
from benchmarks.common.record import write_results
from benchmarks.int8.fp32_probe import train_fp32
from benchmarks.int8.outliers import (
    OUTLIER_SUFFIX,
    activation_maxima,
    split_outliers,
    weight_input_values,
    weight_inputs,
)
from benchmarks.int8.recipes import FLOAT, fake_sym
from benchmarks.quality_report import DATASETS

WORK = _WORK / "candidates"
RESULTS = Path(__file__).resolve().parent
MPNET = _WORK / "all-mpnet-base-v2"  # prepared by `python -m benchmarks.prepare_mpnet`
FLIP_TEXTS = 3000  # training texts (seeded sample) + the whole test split
DEFAULT, FP32 = "int8 (today's default, per batch)", "fp32"


def _default(fp32: Path, out: Path) -> None:
    quantize_int8(fp32, out)


def _per_token(fp32: Path, out: Path) -> None:
    quantize_int8(fp32, out, per_token=True)


def _attention_fp32(fp32: Path, out: Path) -> None:
    quantize_dynamic(
        str(fp32), str(out), weight_type=QuantType.QInt8, per_channel=True, extra_options=FLOAT,
        op_types_to_quantize=["MatMul", "EmbedLayerNormalization", "Gather"],
    )  # fmt: skip
    rowwise_activations(out, out, symmetric=True)


def _outliers(unfused: Path, calibration: list[dict[str, np.ndarray]], out: Path) -> None:
    split = out.with_name("outliers-fp32.onnx")
    split_outliers(unfused, split, activation_maxima(unfused, calibration))
    names = [n.name for n in onnx.load(str(split)).graph.node if n.name.endswith(OUTLIER_SUFFIX)]
    quantize_dynamic(
        str(split), str(out), weight_type=QuantType.QInt8, per_channel=True, extra_options=FLOAT,
        nodes_to_exclude=names,
    )  # fmt: skip
    rowwise_activations(out, out, symmetric=True)


def _nbits(unfused: Path, block: int, out: Path) -> None:
    quantizer = MatMulNBitsQuantizer(
        onnx.load(str(unfused)), bits=8, block_size=block, is_symmetric=True, accuracy_level=4
    )
    quantizer.process()
    quantizer.model.save_model_to_file(str(out), use_external_data_format=False)


def _mixed(unfused: Path, excluded: list[str], out: Path) -> None:
    quantize_dynamic(
        str(unfused), str(out), weight_type=QuantType.QInt8, per_channel=True, extra_options=FLOAT,
        nodes_to_exclude=excluded,
    )  # fmt: skip
    rowwise_activations(out, out, symmetric=True)


def build(fp32: Path, work: Path, calibration: list[dict[str, np.ndarray]]) -> dict[str, Path | str]:
    """Every candidate graph, built from the exported fp32 file (or why it could not be built)."""
    unfused = work / "unfused.onnx"
    unfuse_attention(fp32, unfused)
    ranked = sensitivity(unfused, calibration)
    builders: dict[str, tuple[str, Callable[[Path], None]]] = {
        DEFAULT: ("int8.onnx", partial(_default, fp32)),
        "int8-per-token": ("per-token.onnx", partial(_per_token, fp32)),
        "per-token, attention fp32": ("per-token-attn-fp32.onnx", partial(_attention_fp32, fp32)),
        "per-token + fp32 outlier channels": ("per-token-outliers.onnx", partial(_outliers, unfused, calibration)),
        "per-token, 3 most sensitive matmuls fp32": ("per-token-top3.onnx", partial(_mixed, unfused, ranked[:3])),
        "per-token, 6 most sensitive matmuls fp32": ("per-token-top6.onnx", partial(_mixed, unfused, ranked[:6])),
        "NBits8 b32, level 4": ("nbits8-b32.onnx", partial(_nbits, unfused, 32)),
        "NBits8 b128, level 4": ("nbits8-b128.onnx", partial(_nbits, unfused, 128)),
    }
    files: dict[str, Path | str] = {FP32: fp32}
    for name, (filename, make) in builders.items():
        try:
            make(work / filename)
            files[name] = work / filename
        except Exception as exc:  # a recipe that does not apply to this encoder is a result, not a crash
            files[name] = f"{type(exc).__name__}: {str(exc).splitlines()[0][:160]}"
    return files


def sensitivity(graph: Path, calibration: list[dict[str, np.ndarray]]) -> list[str]:
    """Weight matmuls, most sensitive first: relative output error of per-token int8 activations times
    per-channel int8 weights, on the real activations of the calibration texts (numpy, one fp32 pass)."""
    model = onnx.load(str(graph))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    readers = {x: [n for n in nodes if n.op_type == "MatMul"] for x, nodes in weight_inputs(model).items()}
    weights = {}
    for nodes in readers.values():
        for node in nodes:
            w = inits[node.input[1]].astype(np.float32)
            scale = np.maximum(np.abs(w).max(axis=0, keepdims=True) / 127, 1e-12)  # per output channel
            weights[node.name] = (w, np.round(w / scale) * scale)
    err = dict.fromkeys(weights, 0.0)
    ref = dict.fromkeys(weights, 0.0)
    for batch in weight_input_values(graph, calibration):
        for x_name, x in batch.items():
            xq = fake_sym(x, axis=-1)
            for node in readers.get(x_name, []):
                w, wq = weights[node.name]
                y = x @ w
                err[node.name] += float(((xq @ wq - y) ** 2).sum())
                ref[node.name] += float((y**2).sum())
    return sorted(weights, key=lambda n: err[n] / max(ref[n], 1e-30), reverse=True)


def batch_dependence(model: Classifier, texts: list[str], batched: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Max |Δp| and label changes: each text alone vs in the whole-list batches vs in a random padded batch.

    The random batches: the texts shuffled into groups of 8, each padded to its longest text, so every
    text shares a call with 7 unrelated texts of other lengths."""
    encodings = model.encoder.encode(texts)
    alone = np.stack([model.predict_proba(t) for t in texts])
    mixed = np.empty_like(alone)
    order = np.random.default_rng(seed).permutation(len(texts))
    for group in np.array_split(order, max(1, len(texts) // 8)):
        feeds = model.encoder._pad([encodings[j] for j in group])  # padded to the group's longest text
        mixed[group] = model.session.run([OUTPUT_NAME], feeds)[0]
    return {
        "max_dp_sorted_batches": float(np.abs(alone - batched).max()),
        "max_dp_random_batch": float(np.abs(alone - mixed).max()),
        "labels_changed": int(((alone.argmax(1) != batched.argmax(1)) | (alone.argmax(1) != mixed.argmax(1))).sum()),
        "texts": len(texts),
    }


def speed(models: dict[str, Classifier], texts: list[str], reps: int) -> dict[str, dict[str, float]]:
    """Batched texts/s and one-text-per-call median latency, every model interleaved in each repetition."""
    rate: dict[str, list[float]] = {n: [] for n in models}
    single: dict[str, list[float]] = {n: [] for n in models}
    for _ in range(reps):
        for name, model in models.items():
            start = time.perf_counter()
            model.predict_proba(texts)
            rate[name].append(len(texts) / (time.perf_counter() - start))
        for text in texts[:: max(1, len(texts) // 100)][:100]:
            for name, model in models.items():
                start = time.perf_counter()
                model.predict_proba(text)
                single[name].append(time.perf_counter() - start)
    return {
        n: {"texts_per_s": statistics.median(rate[n]), "single_ms": 1e3 * statistics.median(single[n])} for n in models
    }


def measure(dataset: str, max_train: int | None, model_dir: str | None, tag: str, reps: int) -> dict:
    work = WORK / tag
    fp32, train_csv = train_fp32(dataset, max_train, model_dir, work)
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    manifest, tok = manifest_from_metadata(dict(session.get_modelmeta().custom_metadata_map), str(fp32))
    test = align_labels(load_dataset(dataset_file(dataset, "test"), min_classes=1), manifest.labels)
    train = load_dataset(train_csv, min_classes=1)
    order = np.random.default_rng(1).permutation(len(train))
    extra = [train.texts[i] for i in order[: max(0, FLIP_TEXTS - len(test))]]
    texts = extra + list(test.texts)
    probe_fp32 = Classifier.from_graph(fp32, manifest, tok, threads=1)
    calib_texts = [train.texts[i] for i in order[-256:]]
    calib = [b.feeds for b in probe_fp32.encoder.batches(probe_fp32.encoder.encode(calib_texts), 32, 10**9)]
    built = build(fp32, work, calib)
    files = {name: path for name, path in built.items() if isinstance(path, Path)}
    failed = {name: why for name, why in built.items() if isinstance(why, str)}
    models = {name: Classifier.from_graph(path, manifest, tok, threads=2) for name, path in files.items()}
    probs = {name: m.predict_proba(texts) for name, m in models.items()}
    ref = probs[FP32].argmax(1)
    n_test = len(test)
    y = test.y
    rows = {}
    sample = texts[:100] + texts[-100:]
    for name, p in probs.items():
        pred = p.argmax(1)
        # The exporter's own statistics (probe_export.gate), so the study measures what the gate decides on.
        agree, paired = agreement(probs[FP32], p), paired_accuracy(ref[-n_test:], pred[-n_test:], y)
        b, c = paired.lost, paired.gained
        rows[name] = {
            "flips": agree.flips,
            "flip_rate": agree.flip_rate,
            "max_abs_dp": agree.max_abs_diff,
            "test_accuracy": paired.accuracy,
            "delta_points": paired.delta_points,
            "mcnemar_b_fp32_only": b,
            "mcnemar_c_candidate_only": c,
            "mcnemar_p": float(binomtest(b, b + c).pvalue) if b + c else 1.0,
            "mb": files[name].stat().st_size / 1e6,
            "batch": batch_dependence(models[name], sample, np.concatenate([p[:100], p[-100:]])),
        }
        print(tag, name, {k: v for k, v in rows[name].items() if k != "batch"}, rows[name]["batch"], flush=True)
    timing = speed(models, list(test.texts), reps)
    for name in rows:
        rows[name].update(timing[name])
        rows[name]["speed_vs_default"] = timing[name]["texts_per_s"] / timing[DEFAULT]["texts_per_s"]
        rows[name]["speed_vs_fp32"] = timing[name]["texts_per_s"] / timing[FP32]["texts_per_s"]
        rows[name]["single_vs_default"] = timing[DEFAULT]["single_ms"] / timing[name]["single_ms"]
    return {"dataset": dataset, "encoder": model_dir or "minilm", "n_flip_texts": len(texts), "n_test": n_test,
            "train_subset": max_train, "variants": rows, "failed": failed}  # fmt: skip


def _worse_p(v: dict) -> float:
    """One-sided McNemar exact p: how likely this many fp32-only successes are if both were equally good."""
    b, c = v["mcnemar_b_fp32_only"], v["mcnemar_c_candidate_only"]
    return float(binomtest(b, b + c, alternative="greater").pvalue) if b + c else 1.0


def markdown(results: dict) -> str:
    lines = [
        f"CPU: {results['cpu']}; onnxruntime {results['onnxruntime']}. Speeds are ratios measured side by side "
        "in one run, interleaved, on 2 cores shared with other work (texts/s over the test split, 2 threads; "
        "'1 text' = median latency of one-text calls, as a ratio: >1 is faster than today's default).",
        "",
    ]
    for tag, r in results["runs"].items():
        lines += [
            f"### {tag} ({r['encoder']}; flips on {r['n_flip_texts']} texts, accuracy on {r['n_test']} test texts"
            + (f"; trained on a {r['train_subset']}-text subset" if r["train_subset"] else "")
            + ")",
            "",
            "| candidate | flips vs fp32 | max \\|Δp\\| | test acc (Δ points) | McNemar b/c, p (one-sided) "
            "| alone vs batched max \\|Δp\\| (labels changed) | MB | speed vs int8 / fp32 | 1 text vs int8 |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for name, v in r["variants"].items():
            bd = v["batch"]
            dp = max(bd["max_dp_sorted_batches"], bd["max_dp_random_batch"])
            lines.append(
                f"| {name} | {v['flip_rate']:.2%} ({v['flips']}) | {v['max_abs_dp']:.3f} "
                f"| {v['test_accuracy']:.4f} ({v['delta_points']:+.2f}) "
                f"| {v['mcnemar_b_fp32_only']}/{v['mcnemar_c_candidate_only']}, {_worse_p(v):.2f} "
                f"| {dp:.1e} ({bd['labels_changed']}/{bd['texts']}) | {v['mb']:.1f} "
                f"| {v['speed_vs_default']:.2f} / {v['speed_vs_fp32']:.2f} | {v['single_vs_default']:.2f} |"
            )
        lines += [f"| {name} | could not be built: {why} |||||||| " for name, why in r.get("failed", {}).items()]
        lines.append("")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--mpnet", default="", help="also run the real all-mpnet-base-v2 on this dataset")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--name", default="int8_candidates", help="results file stem in research/int8_candidates/")
    args = parser.parse_args(argv)
    logging.disable(logging.WARNING)
    out = RESULTS / f"{args.name}.json"
    jobs: list[tuple[str, int | None, str | None, str]] = [(d, DATASETS[d], None, d) for d in args.datasets]
    if args.mpnet:
        jobs.append((args.mpnet, DATASETS.get(args.mpnet), str(MPNET), f"{args.mpnet}-mpnet"))
    for dataset, max_train, model_dir, tag in jobs:
        run = measure(dataset, max_train, model_dir, tag, args.reps)
        # re-read before writing: runs of other datasets, from earlier invocations, are kept
        results = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
        results.update({"cpu": cpu_name(), "onnxruntime": ort.__version__})
        results["runs"][tag] = run
        write_results(out, results, markdown(results))
    results = json.loads(out.read_text())
    print(markdown(results))
    return 0


if __name__ == "__main__":
    sys.exit(main())
