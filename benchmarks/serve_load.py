"""`probe-runtime serve` under load: throughput and latency with 1, 8 and 64 concurrent clients, against the
offline `Classifier` on the same texts and against a naive one-request-one-run server.

    .venv/bin/python -m benchmarks.serve_load MODEL.onnx [--seconds 15] [--soak 300]

For each text set (SST-2 phrases; prompt-injection texts) and each client count, every client sends single
texts (``{"inputs": text, "truncate": true}``: long texts read as the library reads them) back to back on a
keep-alive connection for ``--seconds`` (at most ``--max-requests`` requests), to each server in turn, both
started here on a free 127.0.0.1 port, nowhere else:

- ``probe``: ``probe-runtime serve MODEL`` (dynamic batching; every core);
- ``naive``: the wrapper an app would write first (built below): Starlette, one ``predict_proba([text])``
  per request, in Starlette's thread pool; the same classifier, every core.

``offline``: ``Classifier.predict`` on all the texts of the set in one call (texts/s, best of 3) and on one
text per call (p50, the "batch-1" latency). Memory: the server's RSS sampled every 0.5 s; ``--soak S`` adds
one run of S seconds at the highest client count on the probe server, whose RSS is recorded over time.

The clients are asyncio coroutines in this process, on the same machine: they take CPU from the server, as
they would in any single-host test; the machine's load average at start and end is recorded because other
work on a shared machine moves every figure. So is each server's CPU time per text answered (all its
threads, from /proc) next to the offline CPU time per text: on a shared machine a process with more
runnable threads gets a bigger share of the cores, so wall-clock texts/s favour the server that
oversubscribes, while CPU per text says which does less work for the same answers.
Writes ``results/serve_load.json`` and ``.md``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

from benchmarks.classify_memory import rss_mb

HERE = Path(__file__).resolve().parent
ROOT = HERE.parent
READY = " on http://"


def naive_app(model: str) -> Any:
    """One request, one model run: what a first HTTP wrapper around the library looks like."""
    from probe_runtime import Classifier
    from starlette.applications import Starlette
    from starlette.concurrency import run_in_threadpool
    from starlette.requests import Request
    from starlette.responses import JSONResponse
    from starlette.routing import Route

    clf = Classifier.load(model)
    labels = [str(label) for label in clf.decider.labels]

    async def predict(request: Request) -> JSONResponse:
        text = (await request.json())["inputs"]
        row = await run_in_threadpool(clf.predict_proba, [text])
        order = sorted(range(len(labels)), key=lambda j: -row[0][j])
        return JSONResponse([{"label": labels[j], "score": float(row[0][j])} for j in order])

    return Starlette(routes=[Route("/predict", predict, methods=["POST"])])


def run_naive(model: str) -> None:
    """In a child process: the naive server on a free port, announced on stderr like `probe-runtime serve`."""
    import uvicorn
    from probe_runtime.serve import bind

    sock = bind("127.0.0.1", 0)
    app = naive_app(model)
    print(f"naive{READY}127.0.0.1:{sock.getsockname()[1]}", file=sys.stderr, flush=True)
    config = uvicorn.Config(app, log_config=None, access_log=False, http="h11", ws="none", lifespan="off")
    uvicorn.Server(config).run(sockets=[sock])


def start(cmd: list[str]) -> tuple[subprocess.Popen, int]:
    proc = subprocess.Popen(cmd, stderr=subprocess.PIPE, stdout=subprocess.DEVNULL, text=True, cwd=ROOT)
    assert proc.stderr is not None
    for line in proc.stderr:
        if READY in line:
            port = int(line.split(READY, 1)[1].split()[0].rsplit(":", 1)[1])
            threading.Thread(target=lambda: [None for _ in proc.stderr], daemon=True).start()  # type: ignore[union-attr]
            return proc, port
    raise SystemExit(f"server did not start: {' '.join(cmd)}")


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process so far (every thread), from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


async def client(port: int, texts: list[str], counter: list[int], deadline: float, limit: int, out: list) -> None:
    """Back-to-back single-text requests on one keep-alive connection; (latency s, ok) per request into ``out``."""
    reader, writer = await asyncio.open_connection("127.0.0.1", port)
    try:
        while time.perf_counter() < deadline and counter[0] < limit:
            i = counter[0]
            counter[0] += 1
            body = json.dumps({"inputs": texts[i % len(texts)], "truncate": True}).encode()
            head = "POST /predict HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
            start = time.perf_counter()
            writer.write(f"{head}Content-Length: {len(body)}\r\n\r\n".encode() + body)
            status_line = await reader.readline()
            length = 0
            while (line := await reader.readline()) not in (b"\r\n", b""):
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            await reader.readexactly(length)
            out.append((time.perf_counter() - start, status_line.split()[1] == b"200"))
    finally:
        writer.close()


def load(port: int, pid: int, texts: list[str], clients: int, seconds: float, limit: int) -> dict[str, Any]:
    """``clients`` concurrent clients for ``seconds``: texts/s, p50/p99 latency, the server's RSS over the run."""
    results: list[tuple[float, bool]] = []
    memory: list[tuple[float, float]] = []
    stop = threading.Event()
    began = time.perf_counter()

    def sample() -> None:
        while not stop.is_set():
            mb = rss_mb(pid)
            if mb is not None:
                memory.append((round(time.perf_counter() - began, 1), round(mb, 1)))
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()

    async def all_clients() -> float:
        counter = [0]
        deadline = time.perf_counter() + seconds
        t0 = time.perf_counter()
        await asyncio.gather(*(client(port, texts, counter, deadline, limit, results) for _ in range(clients)))
        return time.perf_counter() - t0

    cpu_start = cpu_seconds(pid)
    elapsed = asyncio.run(all_clients())
    cpu = cpu_seconds(pid) - cpu_start
    stop.set()
    sampler.join()
    latencies = sorted(s for s, ok in results if ok)
    failed = sum(1 for _, ok in results if not ok)
    mbs = [mb for _, mb in memory]
    return {
        "clients": clients,
        "requests": len(results),
        "failed": failed,
        "seconds": round(elapsed, 2),
        "texts_per_s": round(len(latencies) / elapsed, 1),
        "p50_ms": round(1000 * percentile(latencies, 50), 2),
        "p99_ms": round(1000 * percentile(latencies, 99), 2),
        "server_cpu_ms_per_text": round(1000 * cpu / max(len(latencies), 1), 3),
        "rss_mb_start": mbs[0] if mbs else None,
        "rss_mb_max": max(mbs) if mbs else None,
        "rss_mb_end": mbs[-1] if mbs else None,
        "rss_samples": memory if seconds >= 60 else [],
    }


def percentile(sorted_values: list[float], q: float) -> float:
    if not sorted_values:
        return float("nan")
    index = min(len(sorted_values) - 1, max(0, round(q / 100 * len(sorted_values) + 0.5) - 1))
    return sorted_values[index]


def offline(model: str, texts: list[str]) -> dict[str, Any]:
    """The library without HTTP: all texts in one `predict` call (best of 3), and one text per call (p50)."""
    from probe_runtime import Classifier

    clf = Classifier.load(model)
    clf.predict(texts[:64])
    runs, cpu = [], []
    for _ in range(3):
        t0, c0 = time.perf_counter(), time.process_time()
        clf.predict(texts)
        runs.append(time.perf_counter() - t0)
        cpu.append(time.process_time() - c0)
    alone = []
    for text in texts[:300]:
        t0 = time.perf_counter()
        clf.predict(text)
        alone.append(time.perf_counter() - t0)
    return {
        "texts_per_s": round(len(texts) / min(runs), 1),
        "cpu_ms_per_text": round(1000 * min(cpu) / len(texts), 3),
        "batch1_p50_ms": round(1000 * statistics.median(alone), 2),
    }


def read_set(name: str, n: int) -> list[str]:
    """``sst2``: the first SST-2 train phrases; ``prompt_injections``: the shipped test then train texts."""
    from benchmarks.data import labelled
    from benchmarks.data.texts import load_texts

    if name == "sst2":
        return load_texts("sst2", n)
    texts: list[str] = []
    for split in ("test", "train"):
        texts += [t.strip() for t in labelled.texts(ROOT / "data" / "prompt_injections" / f"{split}.csv") if t.strip()]
    return texts[:n]


def markdown(record: dict[str, Any]) -> str:
    lines = [
        f"Model `{record['model']}` ({record['precision']}), {record['seconds']} s per run, single-text requests "
        f"on keep-alive connections from asyncio clients on the same machine. Load average (1/5/15 min) "
        f"{record['load_average_start']} at start, {record['load_average_end']} at end: the machine was shared, "
        "so figures move with other work; compare within a row.",
        "",
        f"Reproduce: `{record['command']}`",
        "",
        "| texts | clients | serve texts/s | p50 ms | p99 ms | CPU ms/text | naive texts/s | p50 ms | p99 ms "
        "| CPU ms/text | offline texts/s | CPU ms/text | batch-1 p50 ms | serve / offline | serve / naive "
        "| serve RSS MB (max) |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, result in record["sets"].items():
        off = result["offline"]
        for probe, naive in zip(result["probe"], result["naive"]):
            lines.append(
                f"| {name} | {probe['clients']} | {probe['texts_per_s']:,.0f} | {probe['p50_ms']} | {probe['p99_ms']} "
                f"| {probe['server_cpu_ms_per_text']} | {naive['texts_per_s']:,.0f} | {naive['p50_ms']} "
                f"| {naive['p99_ms']} | {naive['server_cpu_ms_per_text']} | {off['texts_per_s']:,.0f} "
                f"| {off['cpu_ms_per_text']} | {off['batch1_p50_ms']} "
                f"| {probe['texts_per_s'] / off['texts_per_s']:.0%} "
                f"| {probe['texts_per_s'] / max(naive['texts_per_s'], 1e-9):.1f}x | {probe['rss_mb_max']} |"
            )
    lines += ["", "Goals (issue 29):", ""]
    lines += [f"- {goal}: {'met' if ok else 'NOT met'} ({detail})" for goal, ok, detail in record["goals"]]
    soak = record.get("soak")
    if soak:
        lines += [
            "",
            f"Soak: {soak['clients']} clients for {soak['seconds']} s on {soak['set']}: {soak['texts_per_s']:,.0f} "
            f"texts/s, RSS {soak['rss_mb_start']} MB at start, {soak['rss_mb_max']} MB max, {soak['rss_mb_end']} MB "
            f"at the end (first minute's max {soak['rss_mb_first_minute_max']} MB, last minute's max "
            f"{soak['rss_mb_last_minute_max']} MB).",
        ]
    return "\n".join(lines)


def goals(record: dict[str, Any]) -> list[tuple[str, bool, str]]:
    out = []
    for name, result in record["sets"].items():
        top, top_naive = result["probe"][-1], result["naive"][-1]
        off = result["offline"]
        ratio = top["texts_per_s"] / off["texts_per_s"]
        out.append((f"{name}: {top['clients']} clients >= 80 % of offline texts/s", ratio >= 0.8, f"{ratio:.0%}"))
        work = off["cpu_ms_per_text"] / top["server_cpu_ms_per_text"]
        out.append(
            (
                f"{name}: {top['clients']} clients, offline CPU per text >= 80 % of the server's (load-robust form)",
                work >= 0.8,
                f"{work:.0%}: {off['cpu_ms_per_text']} vs {top['server_cpu_ms_per_text']} ms",
            )
        )
        times = top["texts_per_s"] / max(top_naive["texts_per_s"], 1e-9)
        out.append((f"{name}: {top['clients']} clients >= 3x naive", times >= 3, f"{times:.1f}x"))
        eight = next((r for r in result["probe"] if r["clients"] == 8), None)
        if eight:
            limit = 4 * off["batch1_p50_ms"]
            out.append(
                (
                    f"{name}: p99 at 8 clients <= 4x batch-1 p50",
                    eight["p99_ms"] <= limit,
                    f"{eight['p99_ms']} ms vs {limit:.2f} ms",
                )
            )
    return out


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="the .onnx artifact")
    parser.add_argument("--sets", default="sst2,prompt_injections", help="comma-separated: sst2, prompt_injections")
    parser.add_argument("--texts", type=int, default=2000, help="texts per set (default 2000)")
    parser.add_argument("--clients", default="1,8,64", help="concurrent client counts (default 1,8,64)")
    parser.add_argument("--seconds", type=float, default=15, help="seconds per run (default 15)")
    parser.add_argument("--max-requests", type=int, default=200_000, help="requests per run at most")
    parser.add_argument("--soak", type=float, default=0, help="also a run of this many seconds (memory over time)")
    parser.add_argument("--serve-args", default="", help="extra options for probe-runtime serve")
    parser.add_argument("--out", type=Path, default=HERE / "results" / "serve_load.json")
    parser.add_argument("--naive-server", action="store_true", help=argparse.SUPPRESS)  # the child process
    args = parser.parse_args(argv)
    if args.naive_server:
        run_naive(args.model)
        return
    from probe_runtime import Classifier

    from benchmarks.common.record import write_results

    counts = [int(c) for c in args.clients.split(",")]
    load_start = [round(x, 2) for x in os.getloadavg()]
    manifest = Classifier.load(args.model).manifest
    record: dict[str, Any] = {
        "model": Path(args.model).name,
        "precision": manifest.quantization.value,
        "seconds": args.seconds,
        "command": "python -m benchmarks.serve_load " + " ".join(sys.argv[1:] if argv is None else argv),
        "load_average_start": load_start,
        "sets": {},
    }
    servers = {
        "probe": [
            sys.executable,
            "-m",
            "probe_runtime.cli",
            "serve",
            args.model,
            "--port",
            "0",
            "--access-log",
            "off",
            "--max-concurrent-requests",
            "1024",
            *args.serve_args.split(),
        ],
        "naive": [sys.executable, "-m", "benchmarks.serve_load", args.model, "--naive-server"],
    }
    for name in args.sets.split(","):
        texts = read_set(name, args.texts)
        result: dict[str, Any] = {"texts": len(texts), "offline": offline(args.model, texts)}
        print(f"{name}: offline {result['offline']}", file=sys.stderr)
        for kind, cmd in servers.items():
            proc, port = start(cmd)
            try:
                load(port, proc.pid, texts, 8, 2, 2000)  # warm-up
                result[kind] = []
                for clients in counts:
                    run = load(port, proc.pid, texts, clients, args.seconds, args.max_requests)
                    print(
                        f"{name} {kind} {clients} clients: {run['texts_per_s']} texts/s, p50 {run['p50_ms']} ms, "
                        f"p99 {run['p99_ms']} ms, failed {run['failed']}",
                        file=sys.stderr,
                    )
                    result[kind].append(run)
            finally:
                proc.terminate()
                proc.wait(60)
        record["sets"][name] = result
    if args.soak:
        name = args.sets.split(",")[0]
        proc, port = start(servers["probe"])
        try:
            soak = load(port, proc.pid, read_set(name, args.texts), counts[-1], args.soak, 10**9)
        finally:
            proc.terminate()
            proc.wait(60)
        samples = soak["rss_samples"]
        soak["set"] = name
        soak["rss_mb_first_minute_max"] = max((mb for t, mb in samples if t <= 60), default=None)
        soak["rss_mb_last_minute_max"] = max((mb for t, mb in samples if t >= args.soak - 60), default=None)
        record["soak"] = soak
    record["load_average_end"] = [round(x, 2) for x in os.getloadavg()]
    record["goals"] = goals(record)
    written = write_results(args.out, record, markdown(record))
    print(markdown(written), file=sys.stderr)


if __name__ == "__main__":
    main()
