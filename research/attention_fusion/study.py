"""What does fused attention buy each encoder architecture, and what does an unfused one cost? (issue 16)

    python -m research.attention_fusion.study [--stages mpnet sizes] [--before A.onnx --after B.onnx]
    # run from the repository root with the worktree on PYTHONPATH; mpnet ~25 min (two exports), sizes ~10 min

Stages (results in research/attention_fusion/results.{json,md}; each stage keeps the other's figures):

- mpnet: the real all-mpnet-base-v2 (benchmarks/prepare_mpnet.py puts it in benchmarks/.work/), a probe
  trained with `probe train` on 500 seeded SST-2 training rows, exported with no flags (int8-per-token) twice:
  ``unfused`` = the exporter with `probe_export.fusions.ARCHITECTURE_FUSIONS` emptied (what it did before
  MPNet's fusion) and ``fused`` = the exporter as it is (``--before/--after`` take existing files instead).
  Both files run the SST-2 test texts (872) through the runtime (`Classifier.load(threads=1)`), every batch of
  32 by every file in turn, the order rotating, each call's CPU time (``time.process_time``) added to its file:
  texts per CPU-second per round; then batch-1 latency, text by text alternating the files (wall and CPU
  time). Ratios per round, median (min-max) over rounds.
- sizes: random encoders of MiniLM's size (6 layers, hidden 384, 12 heads, FFN 1536; seeded) of BERT, MPNet
  (fused and unfused), RoBERTa, DeBERTa-v2 and ModernBERT, exported like the exporter does (eager attention, opset 20,
  mean pooling), optimized by `probe_export.graph.optimize` and quantized per token
  (`probe_export.graph.quantize_int8`); CPU time per text on the same random token batches (32 texts,
  lengths 8-48 like SST-2 phrases), interleaved the same way, relative to the fused BERT: what an
  architecture whose attention stays unfused costs against a fused BERT of the same size; and, from
  onnxruntime's profiler, the share of kernel time in the embedding nodes (what RoBERTa's missing
  EmbedLayerNormalization can cost at most).
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import logging
import random
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.host import cpu_name
from benchmarks.common.paths import WORK as BENCH_WORK
from benchmarks.common.record import write_results

HERE = Path(__file__).resolve().parent
RESULTS = HERE / "results.json"
MPNET = BENCH_WORK / "all-mpnet-base-v2"
SIZE = dict(hidden_size=384, num_hidden_layers=6, num_attention_heads=12, intermediate_size=1536)

log = logging.getLogger("attention_fusion")


def _probe(argv: list[str]) -> None:
    from probe_export.cli import main as probe

    with contextlib.redirect_stdout(io.StringIO()):
        if probe(argv) != 0:
            raise SystemExit(f"probe {' '.join(argv)} failed")


def _sst2(data: Path) -> tuple[Path, list[str]]:
    """500 seeded SST-2 training rows (a CSV under .work) and the SST-2 test texts."""
    from probe_train.data import load_dataset

    from benchmarks.data import labelled

    rows = load_dataset(data / "sst2" / "train.csv")
    train = labelled.write(HERE / ".work" / "sst2-500.csv", rows, random.Random(16).sample(range(len(rows)), 500))
    return train, labelled.texts(data / "sst2" / "test.csv")


def _mpnet_files(encoder: Path, train: Path, work: Path) -> dict[str, Path]:
    """The unfused and fused default exports of one MPNet probe (built once, reused when present)."""
    from probe_export import fusions

    model = work / "mpnet-probe"
    if not (model / "report.json").is_file():
        _probe(["train", str(train), "--model", str(encoder), "--out", str(model), "--overwrite"])
    files = {"unfused": work / "mpnet-unfused.onnx", "fused": work / "mpnet-fused.onnx"}
    table = dict(fusions.ARCHITECTURE_FUSIONS)
    for name, path in files.items():
        if path.is_file():
            continue
        fusions.ARCHITECTURE_FUSIONS.clear()
        if name == "fused":
            fusions.ARCHITECTURE_FUSIONS.update(table)
        try:
            _probe(["export", str(model), "--out", str(path)])
        finally:
            fusions.ARCHITECTURE_FUSIONS.clear()
            fusions.ARCHITECTURE_FUSIONS.update(table)
    return files


def _interleaved(runners: dict[str, Callable[[Any], Any]], batches: list[Any], rounds: int) -> dict[str, list[float]]:
    """CPU seconds per round of each runner over ``batches``: every batch by every runner in turn, rotating."""
    names = list(runners)
    cpu = {name: [0.0] * rounds for name in names}
    for r in range(rounds):
        for i, batch in enumerate(batches):
            k = (r + i) % len(names)
            for name in names[k:] + names[:k]:
                start = time.process_time()
                runners[name](batch)
                cpu[name][r] += time.process_time() - start
    return cpu


def _ratio(cpu: dict[str, list[float]], num: str, den: str) -> dict[str, float]:
    """How many times faster ``num`` is than ``den`` (CPU time ratio), median and range over rounds."""
    ratios = [d / n for n, d in zip(cpu[num], cpu[den])]
    return {"median": statistics.median(ratios), "min": min(ratios), "max": max(ratios)}


def mpnet(encoder: Path, data: Path, rounds: int, before: Path | None, after: Path | None) -> dict[str, Any]:
    from probe_runtime import Classifier

    train, texts = _sst2(data)
    files = {"unfused": before, "fused": after} if before and after else _mpnet_files(encoder, train, HERE / ".work")
    models = {name: Classifier.load(path, threads=1) for name, path in files.items()}
    for m in models.values():
        m.predict_proba(texts[:64])  # warm-up
    batches = [texts[i : i + 32] for i in range(0, len(texts), 32)]
    cpu = _interleaved({n: m.predict_proba for n, m in models.items()}, batches, rounds)
    latency_texts = texts[:: max(1, len(texts) // 150)][:150]
    wall: dict[str, list[float]] = {n: [] for n in models}
    one_cpu: dict[str, list[float]] = {n: [] for n in models}
    for i, text in enumerate(latency_texts * 2):
        for name in list(models)[i % 2 :] + list(models)[: i % 2]:
            w, c = time.perf_counter(), time.process_time()
            models[name].predict_proba(text)
            wall[name].append(time.perf_counter() - w)
            one_cpu[name].append(time.process_time() - c)
    fused_ops = {n: m.manifest.verification.fused_ops for n, m in models.items()}
    return {
        "files": {n: str(p) for n, p in files.items()},
        "texts": len(texts),
        "rounds": rounds,
        "fused_ops": fused_ops,
        "quantization": {n: str(m.manifest.quantization) for n, m in models.items()},
        "texts_per_cpu_s": {n: len(texts) * rounds / sum(v) for n, v in cpu.items()},
        "speedup": _ratio(cpu, "fused", "unfused"),
        "latency_ms_p50": {n: 1000 * statistics.median(v) for n, v in wall.items()},
        "latency_cpu_ms_p50": {n: 1000 * statistics.median(v) for n, v in one_cpu.items()},
        "latency_texts": len(latency_texts) * 2,
    }


# --- sizes ------------------------------------------------------------------------------------------------------


def _encoder(arch: str) -> Any:
    import torch
    import transformers as tf

    torch.manual_seed(0)
    common = dict(vocab_size=30522, max_position_embeddings=514, pad_token_id=1, **SIZE)
    config: Any
    if arch == "bert":
        config = tf.BertConfig(**{**common, "pad_token_id": 0})
    elif arch == "roberta":
        config = tf.RobertaConfig(**common)
    elif arch == "mpnet":
        config = tf.MPNetConfig(**common)
    elif arch == "deberta-v2":
        config = tf.DebertaV2Config(
            **common,
            relative_attention=True,
            position_buckets=256,
            pos_att_type=["p2c", "c2p"],
            position_biased_input=False,
            max_relative_positions=-1,
            norm_rel_ebd="layer_norm",
            share_att_key=True,
        )  # fmt: skip  (DeBERTa-v3's attention settings)
    elif arch == "modernbert":
        config = tf.ModernBertConfig(**common, global_attn_every_n_layers=3, local_attention=128)
    else:
        raise ValueError(arch)
    return tf.AutoModel.from_config(config, attn_implementation="eager").eval()


class _Pooled:
    """The encoder's masked mean over tokens: what the exported probe graph computes before its head."""

    def __new__(cls, encoder: Any) -> Any:
        import torch

        class Pooled(torch.nn.Module):
            def __init__(self) -> None:
                super().__init__()
                self.encoder = encoder

            def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
                hidden = self.encoder(input_ids=input_ids, attention_mask=attention_mask).last_hidden_state
                weights = attention_mask.unsqueeze(-1).to(hidden.dtype)
                return (hidden * weights).sum(1) / weights.sum(1)

        return Pooled().eval()


def _graphs(arch: str, work: Path, fuse: bool) -> dict[str, Path]:
    """fp32 (optimized) and int8-per-token graphs of the random ``arch`` encoder."""
    import torch
    from probe_export import fusions
    from probe_export.graph import OPSET, optimize, quantize_int8

    name = arch if fuse else f"{arch}-unfused"
    fp32, int8 = work / f"{name}-fp32.onnx", work / f"{name}-int8.onnx"
    if fp32.is_file() and int8.is_file():
        return {"fp32": fp32, "int8-per-token": int8}
    raw = work / f"{arch}-raw.onnx"
    if not raw.is_file():
        ids = torch.randint(5, 1000, (2, 12))
        mask = torch.ones_like(ids)
        with torch.no_grad(), contextlib.redirect_stderr(io.StringIO()):
            torch.onnx.export(
                _Pooled(_encoder(arch)), (ids, mask), str(raw), input_names=["input_ids", "attention_mask"],
                output_names=["pooled"], opset_version=OPSET, dynamo=False,
                dynamic_axes={"input_ids": {0: "b", 1: "s"}, "attention_mask": {0: "b", 1: "s"}, "pooled": {0: "b"}},
            )  # fmt: skip
    table = dict(fusions.ARCHITECTURE_FUSIONS)
    if not fuse:
        fusions.ARCHITECTURE_FUSIONS.clear()
    try:
        stats = optimize(raw, fp32, SIZE["num_attention_heads"], SIZE["hidden_size"], arch, SIZE["num_hidden_layers"])
    finally:
        fusions.ARCHITECTURE_FUSIONS.update(table)
    (work / f"{name}-fused_ops.json").write_text(json.dumps(stats))
    quantize_int8(fp32, int8, per_token=True)
    return {"fp32": fp32, "int8-per-token": int8}


def _embedding_share(path: Path, batches: list[dict[str, np.ndarray]]) -> float:
    """Share of the kernel time spent in the embedding nodes (onnxruntime's profiler, one pass over ``batches``):
    the most an embedding fusion can save."""
    import onnxruntime as ort
    from probe_runtime.loader import DISABLED_FUSIONS, session_options

    options = session_options(1)
    options.enable_profiling = True
    options.profile_file_prefix = str(path.with_suffix(""))
    session = ort.InferenceSession(
        str(path), sess_options=options, disabled_optimizers=DISABLED_FUSIONS, providers=["CPUExecutionProvider"]
    )
    for feeds in batches:
        session.run(None, feeds)
    profile = Path(session.end_profiling())
    events = [
        e for e in json.loads(profile.read_text()) if e.get("cat") == "Node" and e["name"].endswith("_kernel_time")
    ]
    profile.unlink()
    total = sum(e["dur"] for e in events)
    embedding = sum(
        e["dur"] for e in events if "/embeddings/" in e["name"] or e["args"].get("op_name") == "EmbedLayerNormalization"
    )
    return embedding / total


def sizes(rounds: int, archs: list[str]) -> dict[str, Any]:
    import onnxruntime as ort
    from probe_runtime.loader import DISABLED_FUSIONS, session_options

    work = HERE / ".work" / "sizes"
    work.mkdir(parents=True, exist_ok=True)
    variants = [(a, True) for a in archs] + ([("mpnet", False)] if "mpnet" in archs else [])
    graphs = {(a if f else f"{a}-unfused"): _graphs(a, work, f) for a, f in variants}
    rng = np.random.default_rng(0)
    batches = []
    for _ in range(12):
        lengths = rng.integers(8, 49, 32)
        ids = rng.integers(5, 1000, (32, int(lengths.max())))
        mask = (np.arange(ids.shape[1])[None, :] < lengths[:, None]).astype(np.int64)
        batches.append({"input_ids": np.where(mask, ids, 1), "attention_mask": mask})
    out: dict[str, Any] = {"batches": len(batches), "batch_size": 32, "lengths": "8-48", "rounds": rounds, "rows": {}}
    for precision in ("fp32", "int8-per-token"):
        sessions = {
            name: ort.InferenceSession(
                str(g[precision]), sess_options=session_options(1), disabled_optimizers=DISABLED_FUSIONS,
                providers=["CPUExecutionProvider"],
            )
            for name, g in graphs.items()
        }  # fmt: skip
        runners = {n: (lambda feeds, s=s: s.run(None, feeds)) for n, s in sessions.items()}
        for run in runners.values():
            run(batches[0])
        cpu = _interleaved(runners, batches, rounds)
        texts = len(batches) * 32 * rounds
        for name in graphs:
            row = out["rows"].setdefault(name, {"fused_ops": json.loads((work / f"{name}-fused_ops.json").read_text())})
            row[precision] = {
                "texts_per_cpu_s": texts / sum(cpu[name]),
                "vs_bert": _ratio(cpu, name, "bert"),
                "embedding_share": _embedding_share(graphs[name][precision], batches),
            }
    return out


# --- report -----------------------------------------------------------------------------------------------------


def _range(r: dict[str, float]) -> str:
    return f"{r['median']:.2f}× ({r['min']:.2f}–{r['max']:.2f})"


def markdown(results: dict[str, Any]) -> str:
    lines = ["# Attention fusion per architecture: results", ""]
    m = results.get("mpnet")
    if m:
        tps, lat, cpu = m["texts_per_cpu_s"], m["latency_ms_p50"], m["latency_cpu_ms_p50"]
        lines += [
            "## all-mpnet-base-v2, default export (int8-per-token), unfused vs fused attention",
            "",
            f"SST-2 test texts ({m['texts']}), batches of 32, one onnxruntime thread, {m['rounds']} interleaved "
            f"rounds; batch-1 latency over {m['latency_texts']} calls alternating the files.",
            "",
            "| file | attention ops | texts per CPU-second | batch-1 p50 ms (wall) | batch-1 p50 CPU ms |",
            "|---|---|---|---|---|",
        ]
        for name in ("unfused", "fused"):
            ops = m["fused_ops"][name] or {}
            att = ops.get("Attention", 0) + ops.get("MultiHeadAttention", 0)
            lines.append(f"| {name} | {att} | {tps[name]:.1f} | {lat[name]:.2f} | {cpu[name]:.2f} |")
        lines += [
            "",
            f"Fused / unfused, texts per CPU-second: **{_range(m['speedup'])}** (median, range over rounds).",
            "",
        ]
    s = results.get("sizes")
    if s:
        lines += [
            "## Random encoders of MiniLM's size (6 × 384, 12 heads), relative to a fused BERT",
            "",
            f"{s['batches']} batches of {s['batch_size']} random token sequences (lengths {s['lengths']}), one "
            f"thread, {s['rounds']} interleaved rounds. ×BERT = CPU time per text relative to the fused BERT "
            "(1.00 = as fast; 0.5 = twice the time).",
            "",
            "| encoder | fused attention | fp32 texts/CPU-s | fp32 ×BERT | int8-per-token texts/CPU-s "
            "| int8-per-token ×BERT | embedding share of kernel time (int8) |",
            "|---|---|---|---|---|---|---|",
        ]
        for name, row in s["rows"].items():
            ops = row["fused_ops"]
            att = ops.get("Attention", 0) + ops.get("MultiHeadAttention", 0)
            f, q = row["fp32"], row["int8-per-token"]
            lines.append(
                f"| {name} | {att} of 6 | {f['texts_per_cpu_s']:.0f} | {_range(f['vs_bert'])} "
                f"| {q['texts_per_cpu_s']:.0f} | {_range(q['vs_bert'])} | {q['embedding_share']:.1%} |"
            )
    lines += ["", f"CPU: {cpu_name()}; the machine was shared with other jobs (ratios come from interleaved runs)."]
    return "\n".join(lines) + "\n"


def main(argv: list[str] | None = None) -> None:
    from benchmarks.common.paths import data_root

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--stages", nargs="+", default=["mpnet", "sizes"], choices=["mpnet", "sizes"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--before", type=Path, help="an existing unfused MPNet artifact (with --after)")
    parser.add_argument("--after", type=Path, help="an existing fused MPNet artifact (with --before)")
    parser.add_argument("--model", type=Path, default=MPNET, help="the all-mpnet-base-v2 folder (default: %(default)s)")
    parser.add_argument("--archs", nargs="+", default=["bert", "roberta", "mpnet", "deberta-v2", "modernbert"])
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    new = {}
    if "mpnet" in args.stages:
        new["mpnet"] = mpnet(args.model, data_root(), args.rounds, args.before, args.after)
    if "sizes" in args.stages:
        new["sizes"] = sizes(args.rounds, args.archs)
    results = json.loads(RESULTS.read_text()) if RESULTS.is_file() else {}  # the other stage's figures stay
    results.pop("host", None)
    results.update(new)
    write_results(RESULTS, results, markdown(results))
    print(markdown(results))


if __name__ == "__main__":
    main()
