"""Which int8 recipe is exact on every x86 int8 kernel, and what does it cost? (issue 26)

    .venv/bin/python -m research.int8_exact.study [--datasets ...] [--mpnet DATASET] [--avx2]
    # ~4 min a dataset on 2 cores; --avx2 re-runs every candidate under `qemu-x86_64 -cpu Haswell`
    # (apt-get install qemu-user): onnxruntime then picks its AVX2 kernels, as on an AVX2-only CPU

Without VNNI, onnxruntime's u8 x s8 GEMM multiplies with VPMADDUBSW, which adds two adjacent u8 x s8
products into a saturating int16: 255 x 127 x 2 = 64,770 > 32,767, so on AVX2 (and AVX-512 without VNNI)
a matmul whose activations and weights are both large comes out wrong, and a file answers differently
there than on the VNNI or AMX machine that exported it. Candidates, each from the same fp32 file:

- **w8a8**: the per-token int8 shipped until now (weights -127..127, activations q + 128 in 1..255).
- **w7a8**: 7-bit weights (-64..64, onnxruntime's ``reduce_range``): 255 x 64 x 2 = 32,640, never saturates.
- **w8a7**: 7-bit activations (q + 64 in 1..127): 127 x 127 x 2 = 32,258, never saturates.
- **u8u8**: w8a8 with the weights stored as u8 (w + 128, zero point 128): onnxruntime's u8 x u8 kernels
  widen to int16 before multiplying (VPMADDWD), so nothing saturates; slower where VNNI would be used.
- per-batch int8 (``--quantize int8``) with 8- and 7-bit weights.

Measured per candidate, on the same texts: flips vs fp32 and max |Δp| on up to 3,000 texts, test accuracy
and McNemar's b/c; `probe_export.exactness` (the integer matmuls against exact numpy: max relative error, and
whether the graph can saturate at all); speed as ratios to fp32 measured side by side, interleaved. With
``--avx2``, each candidate's probabilities under the emulated AVX2 CPU against its native ones (max |Δp|,
labels changed): the cross-CPU figure.

Writes research/int8_exact/int8_exact.{json,md}, naming the CPU; ``--doc`` (re)writes the section "The same answers
on every CPU" of docs/results.md from that JSON and from benchmarks/results/cross_cpu.json (`benchmarks.cross_cpu`).
"""

from __future__ import annotations

import argparse
import json
import logging
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from probe_export.exactness import integer_matmul_error, saturation_report
from probe_export.gate import agreement, paired_accuracy
from probe_export.graph import quantize_int8
from probe_runtime import Classifier
from probe_runtime.artifact import manifest_from_metadata
from probe_train.data import align_labels, load_dataset
from scipy.stats import binomtest

from benchmarks.common.host import cpu_name
from benchmarks.common.paths import WORK as _WORK
from benchmarks.common.paths import dataset_file
from benchmarks.int8.fp32_probe import train_fp32
from benchmarks.quality_report import DATASETS, throughput

WORK = _WORK / "int8_exact"
RESULTS = Path(__file__).resolve().parent
REPO_RESULTS = Path(__file__).resolve().parents[2] / "benchmarks" / "results"
MPNET = _WORK / "all-mpnet-base-v2"  # prepared by `python -m benchmarks.prepare_mpnet`
FLIP_TEXTS = 3000
FP32 = "fp32"
QEMU = ["qemu-x86_64", "-cpu", "Haswell"]


def _u8u8(fp32: Path, out: Path) -> None:
    """w8a8 with u8 weights (w + 128, zero point 128): onnxruntime's u8 x u8 kernels."""
    quantize_int8(fp32, out, per_token=True, weight_bits=8)
    model = onnx.load(str(out))
    inits = {i.name: i for i in model.graph.initializer}
    for node in model.graph.node:
        if node.op_type != "MatMulIntegerToFloat":
            continue
        weight = inits[node.input[1]]
        w = numpy_helper.to_array(weight)
        if w.dtype == np.int8:
            weight.CopyFrom(numpy_helper.from_array((w.astype(np.int16) + 128).astype(np.uint8), weight.name))
        zp = node.input[1] + "_zp128"
        if zp not in inits:
            model.graph.initializer.append(numpy_helper.from_array(np.array(128, np.uint8), zp))
            inits[zp] = model.graph.initializer[-1]
        while len(node.input) < 6:
            node.input.append("")
        node.input[5] = zp
    onnx.save(model, str(out))


BUILDERS = {
    "w8a8 per token (shipped until now)": lambda f, o: quantize_int8(f, o, per_token=True, weight_bits=8),
    "w7a8 per token": lambda f, o: quantize_int8(f, o, per_token=True, weight_bits=7),
    "w8a7 per token": lambda f, o: quantize_int8(f, o, per_token=True, weight_bits=8, activation_levels=63),
    "u8u8 per token": _u8u8,
    "w8a8 per batch": lambda f, o: quantize_int8(f, o, weight_bits=8),
    "w7a8 per batch": lambda f, o: quantize_int8(f, o, weight_bits=7),
}


def _probs_file(path: Path, fp32: Path, texts_file: Path, out: Path, emulate: bool) -> np.ndarray:
    """Probabilities of graph ``path`` on the texts, in a subprocess (under qemu's AVX2 CPU when ``emulate``)."""
    cmd = [*(QEMU if emulate else []), sys.executable, "-m", "research.int8_exact.study", "--score", str(path)]
    subprocess.run([*cmd, str(fp32), str(texts_file), str(out)], check=True, stderr=subprocess.DEVNULL)
    return np.load(out)


def _score(path: str, fp32: str, texts_file: str, out: str) -> int:
    """The ``--score`` subprocess: graph ``path`` with the fp32 artifact's manifest and tokenizer."""
    session = ort.InferenceSession(fp32, providers=["CPUExecutionProvider"])
    manifest, tok = manifest_from_metadata(dict(session.get_modelmeta().custom_metadata_map), fp32)
    model = Classifier.from_graph(Path(path), manifest, tok, threads=2)
    texts = json.loads(Path(texts_file).read_text(encoding="utf-8"))
    np.save(out, model.predict_proba(texts))
    return 0


def measure(
    dataset: str, max_train: int | None, model_dir: str | None, tag: str, reps: int, avx2: bool, avx2_texts: int
) -> dict:
    work = WORK / tag
    fp32, train_csv = train_fp32(dataset, max_train, model_dir, work)
    session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
    manifest, tok = manifest_from_metadata(dict(session.get_modelmeta().custom_metadata_map), str(fp32))
    test = align_labels(load_dataset(dataset_file(dataset, "test"), min_classes=1), manifest.labels)
    train = load_dataset(train_csv, min_classes=1)
    order = np.random.default_rng(1).permutation(len(train))
    texts = [train.texts[i] for i in order[: max(0, FLIP_TEXTS - len(test))]] + list(test.texts)
    files = {FP32: fp32}
    for name, build in BUILDERS.items():
        files[name] = work / (name.split(" (")[0].replace(" ", "-") + ".onnx")
        build(fp32, files[name])
    models = {name: Classifier.from_graph(path, manifest, tok, threads=2) for name, path in files.items()}
    probs = {name: m.predict_proba(texts) for name, m in models.items()}
    sample = [b.feeds for b in models[FP32].encoder.batches(models[FP32].encoder.encode(texts[-64:]), 16, 10**9)]
    n_test, ref = len(test), probs[FP32].argmax(1)
    rows: dict[str, dict] = {}
    with tempfile.TemporaryDirectory() as tmp:
        texts_file = Path(tmp) / "texts.json"
        emulated_texts = texts[-avx2_texts:]  # the test split first: qemu runs ~100x slower than the CPU
        texts_file.write_text(json.dumps(emulated_texts), encoding="utf-8")
        for name, p in probs.items():
            agree, paired = agreement(probs[FP32], p), paired_accuracy(ref[-n_test:], p.argmax(1)[-n_test:], test.y)
            b, c = paired.lost, paired.gained
            row = {
                "flips": agree.flips,
                "flip_rate": agree.flip_rate,
                "max_abs_dp": agree.max_abs_diff,
                "test_accuracy": paired.accuracy,
                "delta_points": paired.delta_points,
                "mcnemar_b_fp32_only": b,
                "mcnemar_c_candidate_only": c,
                "mcnemar_p": float(binomtest(b, b + c).pvalue) if b + c else 1.0,
                "mb": files[name].stat().st_size / 1e6,
            }
            if name != FP32:
                report = saturation_report(onnx.load(str(files[name])))
                row["can_saturate_on_avx2"] = not report.exact
                row["worst_pair_sum"] = report.worst_pair_sum
                row["integer_matmul_max_rel_error"] = integer_matmul_error(files[name], sample)
            if avx2 and shutil.which(QEMU[0]) and name != FP32:  # fp32 under qemu: 4e-7 apart (PI, 200 texts)
                emulated = _probs_file(files[name], fp32, texts_file, Path(tmp) / "avx2.npy", emulate=True)
                native = p[-len(emulated_texts) :]
                row["avx2_texts"] = len(emulated_texts)
                row["avx2_vs_native_max_abs_dp"] = float(np.abs(emulated - native).max())
                row["avx2_vs_native_labels_changed"] = int((emulated.argmax(1) != native.argmax(1)).sum())
                row["avx2_flips_vs_fp32"] = int((emulated.argmax(1) != ref[-len(emulated_texts) :]).sum())
                row["native_flips_vs_fp32_same_texts"] = int((native.argmax(1) != ref[-len(emulated_texts) :]).sum())
            rows[name] = row
            print(tag, name, row, flush=True)
    rates = throughput(models, list(test.texts), reps)
    for name, r in rates.items():
        rows[name]["texts_per_s"] = float(np.median(r))
        rows[name]["speed_vs_fp32"] = float(np.median(r) / np.median(rates[FP32]))
    return {"dataset": dataset, "encoder": model_dir or "minilm", "n_flip_texts": len(texts), "n_test": n_test,
            "train_subset": max_train, "variants": rows}  # fmt: skip


def markdown(results: dict) -> str:
    lines = [
        f"CPU: {results['cpu']}; onnxruntime {results['onnxruntime']}. 'AVX2' columns: the same file under "
        "`qemu-x86_64 -cpu Haswell` (onnxruntime's AVX2 kernels), against this CPU. Speed: texts/s over the test "
        "split as a ratio to fp32, side by side in one run, interleaved (2 threads).",
        "",
    ]
    for tag, r in results["runs"].items():
        lines += [
            f"### {tag} ({r['encoder']}; flips on {r['n_flip_texts']} texts, accuracy on {r['n_test']} test texts"
            + (f"; trained on a {r['train_subset']}-text subset" if r["train_subset"] else "")
            + ")",
            "",
            "| candidate | can saturate (worst pair sum) | int matmul rel. error here | flips vs fp32 | max \\|Δp\\| "
            "| test acc (Δ) | McNemar b/c | AVX2 vs here: max \\|Δp\\| (labels) | flips vs fp32: AVX2 vs here | MB "
            "| speed vs fp32 |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        for name, v in r["variants"].items():
            sat = "—" if name == FP32 else f"{'yes' if v['can_saturate_on_avx2'] else 'no'} ({v['worst_pair_sum']:,})"
            err = "—" if name == FP32 else f"{v['integer_matmul_max_rel_error']:.1e}"
            avx2 = (
                f"{v['avx2_vs_native_max_abs_dp']:.1e} ({v['avx2_vs_native_labels_changed']})"
                if "avx2_vs_native_max_abs_dp" in v
                else "not run"
            )
            avx2_flips = (
                f"{v['avx2_flips_vs_fp32']} vs {v['native_flips_vs_fp32_same_texts']} here, of {v['avx2_texts']}"
                if "avx2_flips_vs_fp32" in v
                else "—"
            )
            lines.append(
                f"| {name} | {sat} | {err} | {v['flip_rate']:.2%} ({v['flips']}) | {v['max_abs_dp']:.3f} "
                f"| {v['test_accuracy']:.4f} ({v['delta_points']:+.2f}) "
                f"| {v['mcnemar_b_fp32_only']}/{v['mcnemar_c_candidate_only']} | {avx2} | {avx2_flips} "
                f"| {v['mb']:.1f} | {v.get('speed_vs_fp32', float('nan')):.2f} |"
            )
        lines.append("")
    return "\n".join(lines)


SHIPPED, BEFORE = "w7a8 per token", "w8a8 per token (shipped until now)"
DOC = Path(__file__).resolve().parents[2] / "docs" / "results.md"
DOC_HEADING = "## The same answers on every CPU (`python -m research.int8_exact.study --doc`)"


def _avx2(v: dict) -> str:
    if "avx2_vs_native_max_abs_dp" not in v:
        return "—"
    return f"{v['avx2_vs_native_max_abs_dp']:.3f} ({v['avx2_vs_native_labels_changed']} of {v['avx2_texts']})"


def _flips(x: dict) -> str:
    return f"{x['flip_rate']:.2%}, {x['mcnemar_b_fp32_only']}/{x['mcnemar_c_candidate_only']}"


def doc_section(results: dict, cross_cpu: dict | None) -> str:
    """The docs/results.md section: what each recipe costs against fp32, and what another CPU does with it."""
    lines = [
        "onnxruntime's u8 × s8 kernels on AVX2 and AVX-512 without VNNI add each pair of adjacent products into a "
        "saturating int16 (`probe_export.exactness`); the 8-bit weights shipped until now can pass 32,767 there, the "
        "7-bit weights shipped now (−64…64) cannot, so every integer matmul gives the same integers on every x86 CPU. "
        "The candidates, each built from the same fp32 file: flips against fp32 on up to 3,000 texts (training "
        "sample + test split), McNemar's b/c (texts only fp32 / only the candidate gets right), speed as a ratio "
        "to fp32 (texts/s over the test split, 2 threads, interleaved in one run on a shared machine: noisy to "
        "±10 %), and, where measured, the file on an emulated AVX2-only CPU (`qemu-x86_64 -cpu Haswell`) against "
        "this one: max |Δp| (labels changed, of the texts run there).",
        "",
        "| dataset | 8-bit weights (before): flips, b/c | **7-bit weights (shipped)**: flips, b/c | 7-bit "
        "activations: flips | u8 × u8: flips | speed vs fp32: before / shipped / 7-bit act. / u8 × u8 "
        "| on AVX2, before / shipped: max \\|Δp\\| (labels) |",
        "|---|---|---|---|---|---|---|",
    ]
    for tag, run in results["runs"].items():
        v = run["variants"]
        act, uu = v["w8a7 per token"], v["u8u8 per token"]

        speeds = " / ".join(f"{v[n].get('speed_vs_fp32', float('nan')):.2f}" for n in (BEFORE, SHIPPED))
        speeds += f" / {act.get('speed_vs_fp32', float('nan')):.2f} / {uu.get('speed_vs_fp32', float('nan')):.2f}"
        lines.append(
            f"| {tag} ({run['n_flip_texts']} texts) | {_flips(v[BEFORE])} | **{_flips(v[SHIPPED])}** "
            f"| {act['flip_rate']:.2%} | {uu['flip_rate']:.2%} | {speeds} | {_avx2(v[BEFORE])} / {_avx2(v[SHIPPED])} |"
        )
    lines += [
        "",
        f"CPU: {results['cpu']}, onnxruntime {results['onnxruntime']}; every candidate's figures, the static bound "
        "and the integer-matmul check: [research/int8_exact/int8_exact.md](../research/int8_exact/int8_exact.md).",
    ]
    if cross_cpu:
        from benchmarks.cross_cpu import markdown as cross_markdown

        lines += ["", "**Files exported here, loaded on another CPU** (`python -m benchmarks.cross_cpu FILE…`):", ""]
        lines += [cross_markdown(cross_cpu["files"])]
    return "\n".join(lines)


def write_doc() -> None:
    from benchmarks.common.record import write_section

    results = json.loads((RESULTS / "int8_exact.json").read_text(encoding="utf-8"))
    cross = REPO_RESULTS / "cross_cpu.json"
    cross_cpu = json.loads(cross.read_text(encoding="utf-8")) if cross.is_file() else None
    write_section(DOC, "same-answers", doc_section(results, cross_cpu), DOC_HEADING)


def main(argv: list[str] | None = None) -> int:
    if argv is None and len(sys.argv) > 1 and sys.argv[1] == "--score":
        return _score(*sys.argv[2:6])
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--mpnet", default="", help="also run the real all-mpnet-base-v2 on this dataset")
    parser.add_argument("--avx2", action="store_true", help="also score every file under qemu's AVX2 CPU")
    parser.add_argument("--avx2-texts", type=int, default=200, help="texts scored under qemu (the test split first)")
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--name", default="int8_exact", help="results file stem in research/int8_exact/")
    parser.add_argument("--doc", action="store_true", help="only (re)write the docs/results.md section")
    args = parser.parse_args(argv)
    if args.doc:
        write_doc()
        return 0
    logging.disable(logging.WARNING)
    from benchmarks.common.record import write_results

    out = RESULTS / f"{args.name}.json"
    jobs: list[tuple[str, int | None, str | None, str]] = [(d, DATASETS[d], None, d) for d in args.datasets]
    if args.mpnet:
        jobs.append((args.mpnet, DATASETS.get(args.mpnet), str(MPNET), f"{args.mpnet}-mpnet"))
    for dataset, max_train, model_dir, tag in jobs:
        run = measure(dataset, max_train, model_dir, tag, args.reps, args.avx2, args.avx2_texts)
        results = json.loads(out.read_text()) if out.is_file() else {"runs": {}}
        results.update({"cpu": cpu_name(), "onnxruntime": ort.__version__})
        results["runs"][tag] = run
        write_results(out, results, markdown(results))
    print(markdown(json.loads(out.read_text())))
    return 0


if __name__ == "__main__":
    sys.exit(main())
