"""Side-by-side: probe-runtime's default export against what users would run instead, same texts, one run.

Usage (``bash benchmarks/run.sh`` sets up the environments and calls this)::

    .venv/bin/python -m benchmarks.harness --reps 3 --sets sst2 tweets

Every contender runs in a fresh process (``python -m benchmarks.harness.contender``) in the environment it
needs, with the same head and the same thread count; contenders are interleaved within each repetition so that a
burst of load from elsewhere hits all of them alike. Figures are medians over repetitions with the
min-max; ratios to probe's default file (``probe export`` with no flags: ``--quantize auto``) are taken
within the same run. Writes ``results/latest.json``, ``results/latest.md`` and (with matplotlib in the
Optimum environment) ``results/latest.png``. Any encoder: ``--encoder`` (Hugging Face layout), ``--onnx-dir``
(its Optimum int8 export, ``benchmarks.harness.prepare_models``), ``--head`` and the probe files trained on it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from itertools import pairwise
from pathlib import Path

import numpy as np

from benchmarks.common.host import host
from benchmarks.common.paths import REPO as ROOT
from benchmarks.common.record import write_results
from benchmarks.data.texts import load_texts

BENCHMARKS = ROOT / "benchmarks"
ENVS = BENCHMARKS / ".envs"  # made by benchmarks/run.sh


@dataclass(frozen=True)
class Contender:
    name: str
    label: str
    env: str  # "runtime" | "torch" | "alt"
    args: tuple[str, ...] = ()


def python_of(env: str) -> str:
    if env == "torch":  # the harness's own environment (run.sh: .venv, with torch and probe)
        return sys.executable
    return str(ENVS / env / "bin" / "python")


def contenders(default: Path, int8: Path, fp32: Path, default_precision: str = "auto") -> list[Contender]:
    return [
        Contender(
            "probe-default", f"probe-runtime default file ({default_precision})", "runtime", ("--model", str(default))
        ),
        Contender(
            "probe-default-spin",
            f"probe-runtime default file ({default_precision}), --spin",
            "runtime",
            ("--model", str(default), "--spin"),
        ),
        Contender("probe-int8", "probe-runtime per-batch int8 (--quantize int8)", "runtime", ("--model", str(int8))),
        Contender("probe-fp32", "probe-runtime fp32", "runtime", ("--model", str(fp32))),
        Contender("torch-eager", "PyTorch eager (unsorted)", "torch"),
        Contender("torch-eager-sorted", "PyTorch eager (length-sorted)", "torch"),
        Contender("st-torch", "sentence-transformers (torch)", "torch"),
        Contender("st-onnx-int8", "sentence-transformers ONNX int8", "alt"),
        Contender("optimum-int8", "Optimum ORTModel int8", "alt"),
        Contender("fastembed-int8", "fastembed int8 (local model)", "alt"),
    ]


REFERENCE = "torch-eager-sorted"  # PyTorch fp32: the argmax everyone is compared with
BASE = "probe-default"  # the file `probe export` writes with no flags: every ratio is to it


def precision(artifact: Path) -> str:
    """What the artifact's export shipped (``int8-per-token``, ``int8``, ``none``): the default file's label."""
    from probe_runtime import Classifier

    return str(Classifier.load(artifact, threads=1).manifest.quantization)


def cpu_line() -> str:
    """The CPU, its core count and whether it has AMX / AVX-512 VNNI: int8 speed depends on them."""
    machine = host()  # its cpu names the int8 instructions it has: "AMD EPYC (AVX-512 VNNI)"
    amx = "" if machine["amx_int8"] else ", no AMX"
    return f"{machine['cpu']}, {machine['logical_cpus']} logical CPUs{amx}"


def token_lengths(artifact: Path, texts: list[str]) -> dict:
    from probe_runtime import Classifier

    clf = Classifier.load(artifact, threads=1)
    lengths = np.array([len(e.ids) for e in clf.encoder.encode(texts)])
    edges = [0, 8, 16, 32, 64, 128, 256, 10**9]
    hist = {
        f"{lo + 1}-{hi}" if hi < 10**9 else f">{lo}": int(((lengths > lo) & (lengths <= hi)).sum())
        for lo, hi in pairwise(edges)
    }
    return {
        "mean": round(float(lengths.mean()), 1),
        **{f"p{q}": float(np.percentile(lengths, q)) for q in (50, 90, 99)},
        "max": int(lengths.max()),
        "total": int(lengths.sum()),
        "histogram": hist,
    }


def run_one(c: Contender, text_file: Path, common: list[str], timeout: int) -> dict:
    spawned = time.time()
    # ``-m`` from the repository root: the contender's venv need not have probe installed.
    cmd = [python_of(c.env), "-m", "benchmarks.harness.contender", c.name, "--texts", str(text_file)]
    cmd += ["--spawned", repr(spawned), *common, *c.args]
    env = dict(os.environ, HF_HUB_OFFLINE="1", TRANSFORMERS_OFFLINE="1", TOKENIZERS_PARALLELISM="false")
    env.pop("OMP_NUM_THREADS", None)
    try:
        proc = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, cwd=ROOT)
    except subprocess.TimeoutExpired:  # one contender too slow on a busy machine: a row that says so, not a crash
        return {"error": f"timed out after {timeout} s"}
    if proc.returncode != 0:
        tail = (proc.stderr.strip().splitlines() or ["no output"])[-1][:300]
        return {"error": f"exit {proc.returncode}: {tail}"}
    return json.loads(proc.stdout.strip().splitlines()[-1])


def summarise(runs: list[dict]) -> dict:
    ok = [r for r in runs if "error" not in r]
    if not ok:
        return {"skipped": runs[0]["error"] if runs else "not run"}
    out: dict = {"reps": len(ok)}
    for key in ("texts_per_s", "texts_per_cpu_s", "p50_ms", "p95_ms", "cold_start_s", "peak_rss_mb"):
        values = [r[key] for r in ok]
        out[key] = {"median": statistics.median(values), "min": min(values), "max": max(values)}
    return out


def du_mb(path: Path) -> float | None:
    if not path.exists():
        return None
    total = sum(p.stat().st_size for p in path.rglob("*") if p.is_file() and not p.is_symlink())
    return round(total / 1e6, 1)


def site_packages(env: Path) -> Path:
    return next((env / "lib").glob("python*/site-packages"), env / "lib")


def load_average() -> list[float]:
    return [round(x, 2) for x in os.getloadavg()]


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.harness", description=__doc__.splitlines()[0])
    parser.add_argument("--sets", nargs="+", default=["sst2", "tweets"])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=32, help="batch size of the non-probe contenders")
    parser.add_argument("--only", nargs="*", help="contender names to run")
    parser.add_argument("--default", type=Path, default=ROOT / "artifacts/bench/pi-default.onnx",
                        help="the probe exported with no flags (--quantize auto)")  # fmt: skip
    parser.add_argument("--int8", type=Path, default=ROOT / "artifacts/bench/pi.onnx")
    parser.add_argument("--fp32", type=Path, default=ROOT / "artifacts/bench/pi-fp32.onnx")
    parser.add_argument("--head", type=Path, default=ROOT / "artifacts/bench/pi/head.npz")
    parser.add_argument("--encoder", type=Path, default=ENVS / "models/minilm")
    parser.add_argument("--onnx-dir", type=Path, default=ENVS / "models/minilm-int8")
    parser.add_argument("--out", type=Path, default=BENCHMARKS / "results")
    parser.add_argument("--timeout", type=int, default=900)
    parser.add_argument("--latency-texts", type=int, default=200, help="single-text calls timed per process")
    parser.add_argument("--name", default="latest", help="results file stem: results/NAME.json, .md, .png")
    args = parser.parse_args(argv)

    work = ENVS / "work"
    work.mkdir(parents=True, exist_ok=True)
    args.out.mkdir(parents=True, exist_ok=True)
    common = [
        "--threads", str(args.threads), "--batch-size", str(args.batch_size), "--head", str(args.head),
        "--encoder", str(args.encoder), "--onnx-dir", str(args.onnx_dir),
        "--latency-texts", str(args.latency_texts),
    ]  # fmt: skip
    shipped = precision(args.default)
    chosen = [
        c for c in contenders(args.default, args.int8, args.fp32, shipped) if not args.only or c.name in args.only
    ]
    report: dict = {
        "started": time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime()),
        "command": "bash benchmarks/run.sh " + " ".join(sys.argv[1:] if argv is None else argv),
        "threads": args.threads,
        "reps": args.reps,
        "batch_size_others": args.batch_size,
        "cpu": cpu_line(),
        "encoder": args.encoder.name,
        "default_precision": shipped,
        "load_average_start": load_average(),
        "sets": {},
    }
    for set_name in args.sets:
        texts = [t.replace("\n", " ") for t in load_texts(set_name, args.n)]
        text_file = work / f"{set_name}-{args.n}.txt"
        text_file.write_text("\n".join(texts) + "\n", encoding="utf-8")
        tokens = token_lengths(args.default, texts)
        print(
            f"\n== {set_name}: {len(texts)} texts; {args.encoder.name} tokens per text {json.dumps(tokens)}", flush=True
        )
        runs: dict[str, list[dict]] = {c.name: [] for c in chosen}
        for rep in range(args.reps):
            order = chosen[rep % len(chosen) :] + chosen[: rep % len(chosen)]  # rotate who goes first
            for c in order:
                result = run_one(c, text_file, common, args.timeout)
                runs[c.name].append(result)
                brief = result.get("error") or (
                    f"{result['texts_per_s']:8.1f} texts/s  p50 {result['p50_ms']:7.2f} ms  "
                    f"cold {result['cold_start_s']:5.2f} s  rss {result['peak_rss_mb']:6.0f} MB"
                )
                print(f"  rep {rep + 1} {c.name:20s} {brief}   load {load_average()[0]}", flush=True)
        reference = next((r["argmax"] for r in runs.get(REFERENCE, []) if "argmax" in r), None)
        rows = {}
        for c in chosen:
            row = {"label": c.label, "env": c.env, **summarise(runs[c.name])}
            first = next((r for r in runs[c.name] if "argmax" in r), None)
            if first and reference:
                row["agreement_with_torch_fp32"] = float(np.mean(np.array(first["argmax"]) == np.array(reference)))
            rows[c.name] = row
        report["sets"][set_name] = {"texts": len(texts), "tokens": tokens, "contenders": rows}
        write(report, args.out, args.name)  # after every set, so a long run leaves usable results early
    print("\n" + (args.out / f"{args.name}.md").read_text())
    alt = python_of("alt")
    if Path(alt).exists():
        plot = [alt, "-m", "benchmarks.harness.report", "--plot", str(args.out / f"{args.name}.json")]
        subprocess.run(plot, check=False, cwd=ROOT)


def write(report: dict, out: Path, name: str) -> None:
    from benchmarks.harness.report import markdown

    report["load_average_end"] = load_average()
    report["install_mb"] = {
        "runtime-only venv (pip install ./runtime)": du_mb(site_packages(ENVS / "runtime")),
        "torch venv (.venv: torch + transformers + probe)": du_mb(site_packages(Path(sys.prefix))),
        "Optimum/fastembed venv (torch + transformers<4.58)": du_mb(site_packages(ENVS / "alt")),
    }
    write_results(out / f"{name}.json", report, markdown(report))
