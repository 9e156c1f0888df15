"""Can per-token int8 reach 0.9x the speed of per-batch int8, at <= 0.5 % flips vs fp32? (issue 19)

    python -m research.per_token_speed.study [--datasets ...] [--stages prepare speed sensitivity flips]
    # run from the repository root with the worktree on PYTHONPATH (see README.md); ~40 min on 2 shared cores

Stages (each caches its files under --work and writes its part of results.json / results.md):

- prepare: for each dataset, a seeded subsample of at most 4,000 training rows
  (benchmarks.data.labelled.subsample), `probe train` on it, `probe export --quantize none` (fp32).
- speed: graphs built from one fp32 file (MiniLM; the probe head does not matter for speed):
  per-batch int8 (`--quantize int8`), per-token as first shipped (export/probe_export/rowwise.py at
  commit BASELINE, read from git) and per-token now (the exporter's `--quantize int8-per-token`), plus
  per-token variants; texts per CPU-second on real test texts, batch sizes 1 and 32, 1 and 2 onnxruntime
  threads, the runtime's own session settings (probe_runtime.loader.new_session). Interleaved as finely
  as possible: every batch is run by every graph in turn (rotating the order) and each run's CPU time is
  added to its graph, so load from other jobs hits all graphs alike; a round = one pass over the texts,
  and the ratio to per-batch int8 is reported as median (min-max) over rounds.
- sensitivity: per dataset, each weight matmul alone kept in fp32 (everything else per-token int8), on a
  sample of training texts: the flips vs fp32 it removes (ties: mean |dp| it removes). Ranked.
- flips: per dataset, per-token int8 with the k most sensitive matmuls in fp32 (k from --keep), on held-out
  texts (the test split + training texts not in the sensitivity sample, >= 2,000 where the data has them):
  flips vs fp32 and max |dp|; and the speed of each k variant relative to per-batch int8 (same method).
"""

from __future__ import annotations

import argparse
import contextlib
import importlib.util
import io
import json
import logging
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
import onnx
import onnxruntime as ort
from onnx import numpy_helper
from onnxruntime.quantization import QuantType, quantize_dynamic
from probe_export.cli import main as probe
from probe_export.graph import quantize_int8
from probe_export.rowwise import unfuse_attention
from probe_runtime import Classifier
from probe_runtime.artifact import OUTPUT_NAME, manifest_from_metadata
from probe_runtime.loader import new_session

from benchmarks.common.host import cpu_name
from benchmarks.common.record import write_results
from benchmarks.data import labelled

ROOT = Path(__file__).resolve().parents[2]
HERE = Path(__file__).resolve().parent
BASELINE = "0bf53a4d4e0aa168ac92e969179a84f77fb7a058"  # the first per-token graph (16 nodes per matmul)
DATASETS = ("prompt_injections", "sms_spam", "tweeteval_offensive", "sst2")
MAX_TRAIN = 4000
SENSITIVITY_TEXTS = 1000
HELD_OUT_TEXTS = 3000  # test split + other training texts
FLOAT = {"DefaultTensorType": onnx.TensorProto.FLOAT}
INT8, V1, NOW = "int8 (per batch)", "per-token, first version", "per-token (exporter)"
NO_BIAS_GELU = "per-token, FFN bias as [1, N]"
SHARED_ZP = "per-token, bias [1, N] + one shared zero point"
SHARED_ZP_ABS = "per-token, bias [1, N] + shared zero point + ReduceMax(Abs)"

log = logging.getLogger("per_token_speed")


# --- prepare -------------------------------------------------------------------------------------------------


def _probe(argv: list[str]) -> None:
    with contextlib.redirect_stdout(io.StringIO()):
        if probe(argv) != 0:
            raise SystemExit(f"probe {' '.join(argv)} failed")


def prepare(dataset: str, data: Path, work: Path) -> Path:
    """Train the probe with the CLI on <= MAX_TRAIN rows and export its fp32 file (reused when present)."""
    out = work / dataset
    out.mkdir(parents=True, exist_ok=True)
    train = out / "train.csv"
    if not train.is_file():
        if len(labelled.texts(data / dataset / "train.csv")) > MAX_TRAIN:
            labelled.subsample(data / dataset / "train.csv", train, MAX_TRAIN)
        else:
            train.write_bytes((data / dataset / "train.csv").read_bytes())
    if not (out / "probe" / "report.json").is_file():
        _probe(["train", str(train), "--test", str(data / dataset / "test.csv"), "--out", str(out / "probe")])
    fp32 = out / "fp32.onnx"
    if not fp32.is_file():
        _probe(["export", str(out / "probe"), "--out", str(fp32), "--quantize", "none"])
    return fp32


# --- graphs ----------------------------------------------------------------------------------------------------


def _baseline_rowwise() -> ModuleType:
    """export/probe_export/rowwise.py as first shipped, read from git (the study compares against it)."""
    source = subprocess.run(
        ["git", "-C", str(ROOT), "show", f"{BASELINE}:export/probe_export/rowwise.py"],
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    path = HERE / ".work" / "rowwise_baseline.py"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(source)
    spec = importlib.util.spec_from_file_location("rowwise_baseline", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _quantize(source: Path, target: Path, exclude: list[str] | None = None) -> None:
    root = logging.getLogger()
    level, root.level = root.level, logging.ERROR  # the quantizer's "run pre-processing" hint
    try:
        quantize_dynamic(
            str(source), str(target), weight_type=QuantType.QInt8, per_channel=True, extra_options=FLOAT,
            nodes_to_exclude=exclude or [],
        )  # fmt: skip
    finally:
        root.setLevel(level)


def per_token(fp32: Path, target: Path, keep_fp32: list[str] | None = None) -> Path:
    """The exporter's per-token graph, optionally with some weight MatMuls (unfused names) back in fp32."""
    quantize_int8(fp32, target, per_token=True)
    if keep_fp32:
        unfused = target.with_name(f"{target.stem}-unfused.onnx")  # quantize_int8 leaves it there
        onnx.save(restore_fp32(onnx.load(str(target)), onnx.load(str(unfused)), keep_fp32), str(target))
    return target


def restore_fp32(model: onnx.ModelProto, unfused: onnx.ModelProto, names: list[str]) -> onnx.ModelProto:
    """``model`` (per-token) with the named weight MatMuls back in fp32: each one's per-row nodes (named
    ``<name>_quant_rowwise/...`` by quantize_dynamic + rowwise_activations) become the original MatMul.
    Graph surgery instead of re-quantizing with ``nodes_to_exclude``: the same graph, built in a second."""
    original = {n.name: n for n in unfused.graph.node}
    weights = {i.name: i for i in unfused.graph.initializer}
    for name in names:
        prefix = f"{name}_quant_rowwise/"
        chain = [n for n in model.graph.node if n.name.startswith(prefix)]
        x = next(n.input[0] for n in chain if n.op_type == "QuantizeLinear")
        (y,) = next(n.output for n in chain if n.op_type == "MatMulIntegerToFloat")
        index = list(model.graph.node).index(chain[0])
        for node in chain:
            model.graph.node.remove(node)
        w = original[name].input[1]
        model.graph.node.insert(index, onnx.helper.make_node("MatMul", [x, w], [y], name=name))
        model.graph.initializer.append(weights[w])
    used = {i for n in model.graph.node for i in n.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)
    return model


def speed_graphs(fp32: Path, work: Path) -> dict[str, Path]:
    """Per-batch int8, the first per-token graph, and the exporter's per-token graph, built from ``fp32``."""
    work.mkdir(parents=True, exist_ok=True)
    files = {INT8: work / "int8.onnx", V1: work / "per-token-v1.onnx", NOW: work / "per-token.onnx"}
    quantize_int8(fp32, files[INT8])
    unfused = work / "unfused.onnx"
    unfuse_attention(fp32, unfused)
    _quantize(unfused, work / "unfused-int8.onnx")
    _baseline_rowwise().rowwise_activations(work / "unfused-int8.onnx", files[V1], symmetric=True)
    per_token(fp32, files[NOW])
    files[NO_BIAS_GELU] = no_bias_gelu(files[NOW], work / "per-token-no-biasgelu.onnx")
    files[SHARED_ZP] = shared_zero_point(files[NO_BIAS_GELU], unfused, work / "shared-zp.onnx")
    files[SHARED_ZP_ABS] = abs_reduce(files[SHARED_ZP], work / "shared-zp-abs.onnx")
    return files


def _rows_of(unfused: Path) -> dict[str, tuple[object, ...]]:
    """Leading dims (all but the last) of every weight MatMul input, by onnxruntime's symbolic shape inference."""
    from onnxruntime.tools.symbolic_shape_infer import SymbolicShapeInference

    model = SymbolicShapeInference.infer_shapes(onnx.load(str(unfused)), auto_merge=True)
    shapes = {v.name: v.type.tensor_type.shape.dim for v in [*model.graph.value_info, *model.graph.input]}
    return {
        n.input[0]: tuple(d.dim_param or d.dim_value for d in shapes[n.input[0]][:-1])
        for n in model.graph.node
        if n.op_type == "MatMul" and n.input[0] in shapes
    }


def shared_zero_point(source: Path, unfused: Path, target: Path) -> Path:
    """One uint8 zero-point tensor (128s, shape [..., 1]) for every per-row QuantizeLinear whose input has the
    same leading dims (symbolic shape inference), instead of a Shape + ConstantOfShape per matmul."""
    rows = _rows_of(unfused)
    model = onnx.load(str(source))
    first: dict[tuple[object, ...], str] = {}
    drop = []
    for node in model.graph.node:
        if node.op_type != "QuantizeLinear" or node.input[0] not in rows:
            continue
        key = rows[node.input[0]]
        if key in first:
            zp_maker = next(n for n in model.graph.node if n.output and n.output[0] == node.input[2])
            shape = next(n for n in model.graph.node if n.output and n.output[0] == zp_maker.input[0])
            drop += [zp_maker, shape]
            node.input[2] = first[key]
        else:
            first[key] = node.input[2]
    for node in drop:
        model.graph.node.remove(node)
    onnx.save(model, str(target))
    return target


def abs_reduce(source: Path, target: Path) -> Path:
    """max|x| per row as ReduceMax(Abs(x)) (two nodes, one more pass) instead of ReduceMax, ReduceMin, Neg."""
    model = onnx.load(str(source))
    out = []
    for n in model.graph.node:
        p = n.name.split("_rowwise/")[0] + "_rowwise/" if "_rowwise/" in n.name else ""
        if p and n.op_type == "ReduceMax":
            out.append(onnx.helper.make_node("Abs", [n.input[0]], [p + "abs"], name=p + "abs"))
            out.append(
                onnx.helper.make_node("ReduceMax", [p + "abs", n.input[1]], [p + "amax1"], keepdims=1, name=n.name)
            )
        elif p and n.op_type in ("ReduceMin", "Neg"):
            continue
        elif p and n.op_type == "Max":
            out.append(onnx.helper.make_node("Max", [p + "amax1", n.input[2]], list(n.output), name=n.name))
        else:
            out.append(n)
    del model.graph.node[:]
    model.graph.node.extend(out)
    onnx.save(model, str(target))
    return target


def no_bias_gelu(source: Path, target: Path) -> Path:
    """The FFN bias Add before each Gelu given a [1, N] bias instead of [N]: same sums, but onnxruntime then
    does not fuse Add + Gelu into its BiasGelu kernel (which graph.py found slower than Gelu alone)."""
    model = onnx.load(str(source))
    inits = {i.name: i for i in model.graph.initializer}
    readers: dict[str, list[str]] = {}
    for node in model.graph.node:
        for name in node.input:
            readers.setdefault(name, []).append(node.op_type)
    for node in model.graph.node:
        if node.op_type != "Add" or "Gelu" not in readers.get(node.output[0], []):
            continue
        for j, name in enumerate(node.input):
            if name in inits and len(inits[name].dims) == 1:
                bias = numpy_helper.to_array(inits[name]).reshape(1, -1)
                model.graph.initializer.append(numpy_helper.from_array(bias, f"{name}_row"))
                node.input[j] = f"{name}_row"
    onnx.save(model, str(target))
    return target


def weight_matmuls(fp32: Path, work: Path) -> list[str]:
    """Names of the weight MatMuls of the unfused fp32 graph (what per-token quantizes), in graph order."""
    unfused = work / "unfused.onnx"
    if not unfused.is_file():
        unfuse_attention(fp32, unfused)
    model = onnx.load(str(unfused))
    inits = {i.name for i in model.graph.initializer}
    # The probe head (a Gemm, quantized too) is left out: 384 x classes weights, not worth keeping in fp32.
    return [n.name for n in model.graph.node if n.op_type == "MatMul" and n.input[1] in inits]


# --- measuring -----------------------------------------------------------------------------------------------


class Texts:
    """Tokenized texts of one fp32 probe file, and runtime sessions of any graph built from it."""

    def __init__(self, fp32: Path) -> None:
        session = ort.InferenceSession(str(fp32), providers=["CPUExecutionProvider"])
        self.manifest, self.tokenizer = manifest_from_metadata(
            dict(session.get_modelmeta().custom_metadata_map), str(fp32)
        )
        self.encoder = Classifier.from_graph(fp32, self.manifest, self.tokenizer, threads=1).encoder

    def feeds(self, texts: list[str], batch: int) -> list[dict[str, np.ndarray]]:
        """Batches of ``batch`` texts in the given order, each padded to its longest text."""
        enc = self.encoder.encode(texts)
        return [self.encoder._pad(enc[i : i + batch]) for i in range(0, len(enc), batch)]

    def probs(self, graph: Path, texts: list[str]) -> np.ndarray:
        """Probabilities with the runtime's own batching (length-sorted, so padding barely matters)."""
        return Classifier.from_graph(graph, self.manifest, self.tokenizer, threads=1).predict_proba(texts)


def read_texts(path: Path, limit: int | None = None) -> list[str]:
    texts = labelled.texts(path)
    return texts[:limit] if limit else texts


def interleaved(
    graphs: dict[str, Path], feeds: list[dict[str, np.ndarray]], threads: int, rounds: int
) -> dict[str, list[float]]:
    """Texts per CPU-second of each graph, one value per round; every batch runs on every graph in turn."""
    sessions = {name: new_session(path.read_bytes(), str(path), threads) for name, path in graphs.items()}
    names = list(sessions)
    texts = sum(len(next(iter(f.values()))) for f in feeds)
    for feed in feeds[:2]:  # warm-up: first runs allocate
        for name in names:
            sessions[name].run([OUTPUT_NAME], feed)
    rates: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        cpu = dict.fromkeys(names, 0.0)
        for i, feed in enumerate(feeds):
            shift = (r + i) % len(names)
            for name in names[shift:] + names[:shift]:
                start = time.process_time()
                sessions[name].run([OUTPUT_NAME], feed)
                cpu[name] += time.process_time() - start
        for name in names:
            rates[name].append(texts / cpu[name])
    return rates


def ratios(rates: dict[str, list[float]], base: str) -> dict[str, dict[str, float]]:
    """Per graph: median texts/CPU-s, and its ratio to ``base`` per round: median, min, max."""
    b = np.array(rates[base])
    out = {}
    for name, values in rates.items():
        r = np.array(values) / b
        out[name] = {
            "texts_per_cpu_s": float(np.median(values)),
            "ratio": float(np.median(r)),
            "ratio_min": float(r.min()),
            "ratio_max": float(r.max()),
        }
    return out


def speed_table(graphs: dict[str, Path], texts: Texts, sample: dict[str, list[str]], rounds: int) -> list[dict]:
    """Every (texts, batch size, threads) setting: rates and ratios to per-batch int8."""
    rows = []
    for source, items in sample.items():
        for batch in (1, 32):
            feeds = texts.feeds(items[: 96 if batch == 1 else 320], batch)
            for threads in (1, 2):
                rates = interleaved(graphs, feeds, threads, rounds)
                rows.append({"texts": source, "batch": batch, "threads": threads, "graphs": ratios(rates, INT8)})
                log.info("speed %s batch %d threads %d: %s", source, batch, threads, rows[-1]["graphs"])
    return rows


def agreement(fp32: np.ndarray, other: np.ndarray) -> dict[str, float]:
    flips = int((fp32.argmax(1) != other.argmax(1)).sum())
    diff = np.abs(fp32 - other)
    return {
        "flips": flips,
        "texts": len(fp32),
        "flip_rate": flips / len(fp32),
        "max_abs_dp": float(diff.max()),
        "mean_abs_dp": float(diff.mean()),
    }


# --- sensitivity and flips -----------------------------------------------------------------------------------


def split_texts(data: Path, dataset: str, work: Path, n_choose: int = SENSITIVITY_TEXTS) -> tuple[list[str], list[str]]:
    """(sensitivity sample: training texts, held-out: the test split + other training texts), disjoint."""
    train = read_texts(work / dataset / "train.csv")
    test = read_texts(data / dataset / "test.csv")
    order = np.random.default_rng(7).permutation(len(train))
    choose = [train[i] for i in order[:n_choose]]
    rest = [train[i] for i in order[n_choose:]]
    held_out = rest[: max(0, HELD_OUT_TEXTS - len(test))] + test
    return choose, held_out


def sensitivity(fp32: Path, work: Path, texts: Texts, sample: list[str]) -> list[dict[str, Any]]:
    """Each weight matmul alone in fp32: flips and mean |dp| vs fp32 on ``sample``; most helpful first."""
    ref = texts.probs(fp32, sample)
    base = agreement(ref, texts.probs(per_token(fp32, work / "per-token.onnx"), sample))
    quantized, unfused = onnx.load(str(work / "per-token.onnx")), onnx.load(str(work / "per-token-unfused.onnx"))
    rows = []
    for name in weight_matmuls(fp32, work):
        graph = work / "one-fp32.onnx"
        onnx.save(restore_fp32(onnx.ModelProto.FromString(quantized.SerializeToString()), unfused, [name]), str(graph))
        a = agreement(ref, texts.probs(graph, sample))
        rows.append(
            {"node": name, "flips_removed": base["flips"] - a["flips"],
             "mean_abs_dp_removed": base["mean_abs_dp"] - a["mean_abs_dp"], **a}
        )  # fmt: skip
        log.info("sensitivity %s: %s", name, rows[-1])
    rows.sort(key=lambda r: (r["flips_removed"], r["mean_abs_dp_removed"]), reverse=True)
    return [{"all_int8": base}, *rows]


def flips(fp32: Path, work: Path, texts: Texts, held_out: list[str], ranked: list[str], keep: list[int]) -> dict:
    """Per-token with the k top-ranked matmuls in fp32, on held-out texts; and per-batch int8 for reference."""
    ref = texts.probs(fp32, held_out)
    rows: dict[str, Any] = {}
    int8 = work / "int8.onnx"
    quantize_int8(fp32, int8)
    rows[INT8] = agreement(ref, texts.probs(int8, held_out))
    for k in keep:
        graph = per_token(fp32, work / f"per-token-top{k}.onnx", ranked[:k])
        rows[_k_name(k)] = {**agreement(ref, texts.probs(graph, held_out)), "fp32_nodes": ranked[:k]}
        log.info("flips k=%d: %s", k, rows[_k_name(k)])
    return rows


def _k_name(k: int) -> str:
    return NOW if k == 0 else f"per-token, {k} most sensitive in fp32"


# --- report --------------------------------------------------------------------------------------------------


def _cell(g: dict[str, float]) -> str:
    return f"{g['ratio']:.2f} ({g['ratio_min']:.2f}-{g['ratio_max']:.2f})"


def markdown(results: dict[str, Any]) -> str:
    lines = [
        "# Per-token int8: speed and flips (generated by `python -m research.per_token_speed.study`)",
        "",
        f"CPU: {results.get('cpu', '?')}; onnxruntime {results.get('onnxruntime', '?')}. Measured on a "
        "machine shared with other jobs (2 cores): ratios come from interleaved runs and their spread is shown.",
        "",
    ]
    for title, rows in (("Speed", results.get("speed")), ("Speed of the fp32-kept variants", results.get("speed_k"))):
        if not rows:
            continue
        names = list(rows[0]["graphs"])
        lines += [f"## {title}: texts per CPU-second vs per-batch int8, median (min-max) over rounds", ""]
        lines += ["| texts | batch | threads | int8 texts/CPU-s | " + " | ".join(names) + " |"]
        lines += ["|---" * (4 + len(names)) + "|"]
        for r in rows:
            g = r["graphs"]
            cells = " | ".join(_cell(g[n]) for n in names)
            lines.append(
                f"| {r['texts']} | {r['batch']} | {r['threads']} | {g[INT8]['texts_per_cpu_s']:.0f} | {cells} |"
            )
        lines.append("")
    if results.get("graph_nodes"):
        lines += ["Nodes per graph: " + ", ".join(f"{k}: {v}" for k, v in results["graph_nodes"].items()), ""]
    flips_rows = results.get("flips", {})
    if flips_rows:
        variants = list(next(iter(flips_rows.values())))
        lines += ["## Flips vs fp32 on held-out texts (test split + training texts not used to choose)", ""]
        lines += ["| variant | " + " | ".join(flips_rows) + " |", "|---" * (1 + len(flips_rows)) + "|"]
        for v in variants:
            found = [flips_rows[ds].get(v) for ds in flips_rows]
            text = [f"{100 * a['flip_rate']:.2f}% ({a['flips']}/{a['texts']})" if a else "–" for a in found]
            lines.append(f"| {v} | " + " | ".join(text) + " |")
        lines.append("")
        for ds, rows in flips_rows.items():
            kept = [f"k={k}: " + ", ".join(f"`{n}`" for n in v["fp32_nodes"]) for k, v in _kept(rows)]
            if kept:
                lines.append(f"- {ds}, matmuls kept in fp32 (chosen on training texts): " + "; ".join(kept))
        lines.append("")
    return "\n".join(lines)


def _kept(rows: dict[str, Any]) -> Iterator[tuple[int, dict[str, Any]]]:
    for v in rows.values():
        if v.get("fp32_nodes"):
            yield len(v["fp32_nodes"]), v


# --- main ----------------------------------------------------------------------------------------------------


def _save(path: Path, update: Callable[[dict[str, Any]], None]) -> dict[str, Any]:
    """Re-read, update and write results.json (stages run in separate invocations keep each other's parts)."""
    results = json.loads(path.read_text()) if path.is_file() else {}
    update(results)
    results.update({"cpu": cpu_name(), "onnxruntime": ort.__version__})
    return write_results(path, results, markdown(results))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--datasets", nargs="*", default=list(DATASETS))
    parser.add_argument("--data", type=Path, default=ROOT.parent / "shared" / "data", help="shared datasets")
    parser.add_argument("--work", type=Path, default=HERE / ".work", help="cache of trained probes and graphs")
    parser.add_argument("--out", type=Path, default=HERE / "results.json")
    parser.add_argument("--stages", nargs="*", default=["prepare", "speed", "sensitivity", "flips", "speed_k"])
    parser.add_argument("--speed-datasets", nargs="*", default=["sst2", "tweeteval_offensive"])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--sensitivity-texts", type=int, default=SENSITIVITY_TEXTS, help="training texts to rank on")
    parser.add_argument("--keep", type=int, nargs="*", default=[0, 1, 2, 4, 6], help="fp32 matmuls to try")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(message)s", stream=sys.stderr)
    logging.getLogger("probe_export").setLevel(logging.WARNING)
    fp32 = {ds: prepare(ds, args.data, args.work) for ds in args.datasets}
    if "speed" in args.stages:
        model = fp32[args.speed_datasets[0]]
        graphs = speed_graphs(model, args.work / "speed")
        texts = Texts(model)
        sample = {ds: read_texts(args.data / ds / "test.csv") for ds in args.speed_datasets}
        rows = speed_table(graphs, texts, sample, args.rounds)
        _save(args.out, lambda r: r.update(speed=rows, graph_nodes=_node_counts(graphs)))
    for ds in args.datasets:
        _per_dataset(ds, fp32[ds], args)
    if "speed_k" in args.stages:
        _speed_k(fp32, args)
    return 0


def _node_counts(graphs: dict[str, Path]) -> dict[str, int]:
    return {name: len(onnx.load(str(path)).graph.node) for name, path in graphs.items()}


def _per_dataset(ds: str, fp32: Path, args: argparse.Namespace) -> None:
    work = args.work / ds
    texts = Texts(fp32)
    choose, held_out = split_texts(args.data, ds, args.work, args.sensitivity_texts)
    ranked_file = work / "sensitivity.json"
    if "sensitivity" in args.stages or ("flips" in args.stages and not ranked_file.is_file()):
        ranked_file.write_text(json.dumps(sensitivity(fp32, work, texts, choose), indent=1))
        _save(args.out, lambda r: r.setdefault("sensitivity", {}).update({ds: json.loads(ranked_file.read_text())}))
    if "flips" in args.stages:
        ranked = [r["node"] for r in json.loads(ranked_file.read_text())[1:]]
        rows = flips(fp32, work, texts, held_out, ranked, args.keep)
        _save(args.out, lambda r: r.setdefault("flips", {}).update({ds: rows}))


def _speed_k(fp32: dict[str, Path], args: argparse.Namespace) -> None:
    """Speed of each dataset's fp32-kept variants (their nodes differ), vs per-batch int8, on its test texts."""
    rows = []
    for ds in args.speed_datasets:
        work = args.work / ds
        graphs = {INT8: work / "int8.onnx"} | {
            _k_name(k): work / ("per-token.onnx" if k == 0 else f"per-token-top{k}.onnx") for k in args.keep
        }
        per_token(fp32[ds], work / "per-token.onnx")
        texts = Texts(fp32[ds])
        feeds = texts.feeds(read_texts(args.data / ds / "test.csv", 320), 32)
        for threads in (1, 2):
            rates = interleaved(graphs, feeds, threads, args.rounds)
            rows.append({"texts": ds, "batch": 32, "threads": threads, "graphs": ratios(rates, INT8)})
            log.info("speed_k %s threads %d: %s", ds, threads, rows[-1]["graphs"])
    _save(args.out, lambda r: r.update(speed_k=rows))


if __name__ == "__main__":
    sys.exit(main())
