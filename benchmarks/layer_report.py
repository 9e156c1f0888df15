"""Per-layer probe curves for the shared datasets, and what the recommended layer buys at export.

    python -m benchmarks.layer_report [--model minilm|DIR] [--datasets a,b] [--max-train N] [--export | --export-only]

For each dataset: `probe_train.layers.sweep_layers` (every layer x cls/mean/max x with/without L2, the
recommendation from cross-validation on the training data, test accuracy shown), a plot per dataset,
and with ``--export`` the recommended layer and the last layer each trained (`probe train`, on the same
training rows as the sweep: a seeded sample is written to a CSV first) and exported (`probe export`,
default precision) so the file size and the throughput over the test texts (`Classifier.predict_proba`,
2 threads) stand side by side; the two files are timed in alternation, ``ROUNDS`` times each, best kept,
so a busy machine slows both alike; the 1-minute load average before and after the timing is recorded
and printed beside it (2 cores: above about 1 the files shared them with other jobs). Where the recommended
layer's file is not 1.3x faster (say the export's gate refused its int8), the later layers within the
tolerance are exported and timed in turn, as a user would next try them, until one is. ``--export-only``
trains, exports and times the two files of datasets already swept (again, for a re-timing), from their
recorded recommendation, without a new sweep: a big encoder's sweeps can run first and its exports as
time allows. A run over some datasets replaces those datasets' rows and keeps
the others'. MPNet: prepare it with ``python -m benchmarks.prepare_mpnet`` and
pass ``--model benchmarks/.work/all-mpnet-base-v2``.
Results: benchmarks/results/layers_<model>.{json,md} and layers_<model>_<dataset>.png; the section
``probe-layers`` of docs/results.md is regenerated from every layers_<model>.json there.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path
from typing import Any

from benchmarks.common.paths import REPO, WORK, dataset_file
from benchmarks.common.record import host_line, write_results, write_section
from benchmarks.data.splits import train_test

DATASETS = ("prompt_injections", "sms_spam", "tweeteval_offensive", "sst2")
RESULTS = REPO / "benchmarks" / "results"
DOC = REPO / "docs" / "results.md"
SECTION = "probe-layers"  # docs/results.md's part this report owns (`benchmarks.common.record.write_section`)
ROUNDS = 3  # alternating timing rounds per exported file


def _train_file(name: str, train: Any, full: int) -> Path:
    """The training rows the sweep used, as a file `probe train` reads: the dataset's own, or the sample written out."""
    if len(train) == full:
        return dataset_file(name, "train")
    from benchmarks.data import labelled

    return labelled.write(WORK / "layers" / f"{name}-train-{len(train)}.csv", train)


def _load() -> float:
    """The 1-minute load average now: how busy the 2 cores were around a measurement."""
    return round(os.getloadavg()[0], 2)


def _throughput(files: dict[str, Any], texts: list[str]) -> dict[str, float]:
    """Texts per second of each loaded classifier, timed in alternation (best of ``ROUNDS``)."""
    best = dict.fromkeys(files, float("inf"))
    for clf in files.values():
        clf.predict_proba(texts[:64])  # warm-up
    for _ in range(ROUNDS):
        for tag, clf in files.items():
            started = time.perf_counter()
            clf.predict_proba(texts)
            best[tag] = min(best[tag], time.perf_counter() - started)
    return {tag: len(texts) / seconds for tag, seconds in best.items()}


GOAL_SPEEDUP = 1.3  # the goal: an earlier layer within the tolerance gives a file this much faster


def _export_one(
    name: str, tag: str, data: Path, test: Path, model: str | None, at: int, pooling: str, l2: bool
) -> tuple[dict[str, Any], Any]:
    """`probe train` at layer ``at`` and `probe export` with the defaults: the file's facts and its classifier."""
    from probe_export.cli import main as probe
    from probe_runtime import Classifier
    from probe_runtime.records import Figures

    prefix = f"{Path(model).name}-" if model else ""
    root = WORK / "layers" / f"{prefix}{name}-{tag}"
    args = ["train", str(data), "--test", str(test), "--out", str(root), "--overwrite", "--layer", str(at)]
    args += ["--pooling", pooling, "--normalize" if l2 else "--no-normalize"]
    if model:
        args += ["--model", model]
    assert probe(args) == 0
    artifact = root.with_suffix(".onnx")
    assert probe(["export", str(root), "--out", str(artifact), "--overwrite"]) == 0
    clf = Classifier.load(artifact, threads=2)
    m = clf.manifest
    facts = {
        "layer": at,
        "encoder_layers": m.encoder_layers,
        "quantization": str(m.quantization),
        "mb": artifact.stat().st_size / 1e6,
        "accuracy": (m.verification.int8 or m.verification.fp32 or Figures()).accuracy,
    }
    return facts, clf


def later_candidates(sweep: dict[str, Any]) -> list[dict[str, Any]]:
    """Layers after the recommended one, before the last, whose best CV score is also within the tolerance:
    where the recommended layer's file is not faster (its int8 refused by the export's gate, say), the next of
    these is the user's next choice."""
    best = sweep["best"]["cv_accuracy"] - sweep["tolerance"] / 100
    first, last = sweep["recommended"]["layer"], sweep["n_layers"]
    per_layer: dict[int, dict[str, Any]] = {}
    for score in sweep["scores"]:
        if first < score["layer"] < last and score["cv_accuracy"] >= best:
            kept = per_layer.get(score["layer"])
            if kept is None or score["cv_accuracy"] > kept["cv_accuracy"]:
                per_layer[score["layer"]] = score
    return [per_layer[k] for k in sorted(per_layer)]


def _export_pair(
    name: str, data: Path, test: Path, model: str | None, layer: int, pooling: str, l2: bool, sweep: dict[str, Any]
) -> dict:
    """Train and export at ``layer`` and at the last layer: size, throughput and accuracy of each file. If the
    recommended file is not `GOAL_SPEEDUP` faster, the later layers within the tolerance are tried in turn
    (``fallback``: the first that is, or the last tried)."""
    from benchmarks.data import labelled

    texts = labelled.texts(test)
    out: dict[str, Any] = {}
    loaded: dict[str, Any] = {}
    for tag, at in (("recommended", layer), ("last", -1)):
        out[tag], loaded[tag] = _export_one(name, tag, data, test, model, at, pooling, l2)
    before = _load()
    for tag, speed in _throughput(loaded, texts).items():
        out[tag]["texts_per_second"] = speed
    out["timing_load"] = [before, _load()]
    out["speedup"] = out["recommended"]["texts_per_second"] / out["last"]["texts_per_second"]
    for score in later_candidates(sweep) if out["speedup"] < GOAL_SPEEDUP else []:
        facts, clf = _export_one(
            name, "fallback", data, test, model, score["layer"], score["pooling"], score["normalize"]
        )
        before = _load()
        speeds = _throughput({"fallback": clf, "last": loaded["last"]}, texts)
        facts |= {"pooling": score["pooling"], "normalize": score["normalize"], "cv_accuracy": score["cv_accuracy"]}
        facts |= {"texts_per_second": speeds["fallback"], "timing_load": [before, _load()]}
        facts["speedup"] = speeds["fallback"] / speeds["last"]
        out["fallback"] = facts
        if facts["speedup"] >= GOAL_SPEEDUP:
            break
    return out


def _name(score: dict[str, Any]) -> str:
    return f"layer {score['layer']} {score['pooling']}{'+l2' * score['normalize']}"


def _markdown(model: str, rows: list[dict[str, Any]], note: str, heading: str = "#") -> str:
    lines = [f"{heading} Layer sweep: {model}", "", note, ""]
    lines += [
        "| dataset | train rows | best (CV %) | recommended (CV % ± std, test %) | last layer mean, test % |",
        "|---|---:|---|---|---:|",
    ]
    for r in rows:
        s, b, rec = r["sweep"], r["sweep"]["best"], r["sweep"]["recommended"]
        last = next(
            x for x in s["scores"] if x["layer"] == s["n_layers"] and x["pooling"] == "mean" and not x["normalize"]
        )
        lines.append(
            f"| {r['dataset']} | {s['n_train']} | {_name(b)} ({100 * b['cv_accuracy']:.2f}) | {_name(rec)} "
            f"({100 * rec['cv_accuracy']:.2f} ± {100 * rec['cv_spread']:.2f}, {100 * (rec['accuracy'] or 0):.2f}) | "
            f"{100 * (last['accuracy'] or 0):.2f} |"
        )
    exports = [r for r in rows if "export" in r]
    if exports:
        lines += [
            "",
            "Exported (`probe train` at the layer, pooling and normalisation named, then `probe export`, default "
            "`--quantize auto`); texts/s over the test texts, 2 threads, the two files timed in alternation:",
            "",
            "| dataset | file | layers in graph | MB | texts/s | test accuracy % | speed-up | load while timed |",
            "|---|---|---:|---:|---:|---:|---:|---|",
        ]
        for r in exports:
            for tag in ("recommended", "fallback", "last"):
                if tag not in r["export"]:
                    continue
                e = r["export"][tag]
                speedup = {"recommended": r["export"]["speedup"], "fallback": e.get("speedup"), "last": 1.0}[tag]
                label = f"next within tolerance, layer {e['layer']}" if tag == "fallback" else tag
                load = {"recommended": _timing_load(r["export"]), "fallback": _timing_load(e), "last": ""}[tag]
                lines.append(
                    f"| {r['dataset']} | {label} ({e['quantization']}) | {e['encoder_layers']} | {e['mb']:.1f} | "
                    f"{e['texts_per_second']:.0f} | {100 * (e['accuracy'] or 0):.2f} | {speedup:.2f}x | {load} |"
                )
    lines += ["", "Goal (wherever an earlier layer is within 0.5 CV points of the best, a file >= 1.3x faster):", ""]
    lines += [f"- {r['dataset']}: {_goal(r)}" for r in rows]
    return "\n".join(lines)


def _timing_load(export: dict[str, Any]) -> str:
    """The 1-minute load average before and after the timing (2 cores), else what was noted, else so."""
    if "timing_load" not in export:
        return str(export.get("load_note", "not recorded"))
    before, after = export["timing_load"]
    return f"{before:.2f} -> {after:.2f}"


def _goal(row: dict[str, Any]) -> str:
    """Whether the issue's goal holds for one dataset's row, in one line."""
    sweep = row["sweep"]
    rec, n_layers, points = sweep["recommended"], sweep["n_layers"], f"{sweep['tolerance']:g} points"
    if rec["layer"] >= n_layers:
        return f"no earlier layer is within {points} of the best (the last layer is chosen): nothing to speed up"
    if "export" not in row:
        return f"layer {rec['layer']} of {n_layers} is within {points}; not exported in this run"
    export = row["export"]
    speedup, verdict = export["speedup"], "met" if export["speedup"] >= 1.3 else "NOT met"
    precisions = {tag: export[tag]["quantization"] for tag in ("recommended", "last")}
    why = (
        f" (`--quantize auto` shipped it as {precisions['recommended']}, the full file as {precisions['last']})"
        if precisions["recommended"] != precisions["last"]
        else ""
    )
    line = f"layer {rec['layer']} of {n_layers} is within {points}; its file has {speedup:.2f}x the full file's "
    line += f"throughput{why}"
    fallback = export.get("fallback")
    if speedup >= GOAL_SPEEDUP or fallback is None:
        return f"{line}: {verdict}"
    verdict = "met" if fallback["speedup"] >= GOAL_SPEEDUP else "NOT met"
    return (
        f"{line}; layer {fallback['layer']}, also within {points} (CV {100 * fallback['cv_accuracy']:.2f}), ships as "
        f"{fallback['quantization']}: {fallback['speedup']:.2f}x, test {100 * (fallback['accuracy'] or 0):.2f} %: "
        f"{verdict}"
    )


def _section() -> str:
    """docs/results.md's ``probe-layers`` section: every model's table (from its results JSON) and curves."""
    import json

    parts = [
        "## Which layer? Per-layer probe curves (`benchmarks/layer_report.py`)",
        "",
        "Every hidden state (0: the embeddings) pooled cls/mean/max, with and without L2 normalisation (dashed), "
        "probed with the 5-fold cross-validated logistic regression; the curves show test accuracy. The "
        "recommendation (grey line) reads the training data's CV only. Throughput: the recommended layer's file "
        "and the full model's, timed in alternation in one run (2 cores, best of 3): only their ratio means "
        "anything on this machine, which other jobs shared at times; the load column gives the 1-minute load "
        "average before and after each pair's timing (above about 1: the pair shared the cores with another job).",
    ]
    for path in sorted(RESULTS.glob("layers_*.json")):
        try:
            record = json.loads(path.read_text(encoding="utf-8"))
        except ValueError:  # another model's run is writing it this instant; its own run rewrites the section
            continue
        if not isinstance(record, dict) or "rows" not in record:
            continue
        model, rows = record["model"], record["rows"]
        parts += ["", _markdown(model, rows, record["note"], heading="###")]
        if record.get("host"):
            parts += ["", host_line(record["host"])]
        commands = list(dict.fromkeys(r[k] for r in rows for k in ("command", "export_command") if r.get(k)))
        if not commands and record.get("command"):
            commands = [record["command"]]
        if commands:
            parts += ["", "Reproduce: " + "; ".join(f"`{c}`" for c in commands)]
        pictures = [f"![{model} {r['dataset']}](../benchmarks/results/layers_{model}_{r['dataset']}.png)" for r in rows]
        parts += ["", " ".join(pictures)]
    return "\n".join(parts)


def _rewrite_tables() -> None:
    """Each layers_<model>.md rewritten from its JSON (after a change to the table, or to a kept note)."""
    import json

    for path in sorted(RESULTS.glob("layers_*.json")):
        record = json.loads(path.read_text(encoding="utf-8"))
        if isinstance(record, dict) and "rows" in record:
            text = _markdown(record["model"], record["rows"], record["note"])
            path.with_suffix(".md").write_text(f"{text}\n\n{host_line(record['host'])}\n", encoding="utf-8")


def _relative(arg: str) -> str:
    """A prepared model's path as the docs show it (``benchmarks/.work/<name>``), whichever checkout it was in."""
    marker = "/benchmarks/.work/"
    return arg[arg.index(marker) + 1 :] if marker in arg else arg


def _earlier(out: Path) -> list[dict[str, Any]]:
    """The rows an earlier run wrote to ``out`` (each naming the command that measured it), or none."""
    import json

    if not out.is_file():
        return []
    record = json.loads(out.read_text(encoding="utf-8"))
    return [{**r, "command": r.get("command", record.get("command"))} for r in record["rows"]]


def _merge(earlier: list[dict[str, Any]], new: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """``earlier``'s rows with those of the datasets in ``new`` replaced or added, in DATASETS order."""
    done = {r["dataset"] for r in new}
    rows = [r for r in earlier if r["dataset"] not in done] + new
    return sorted(rows, key=lambda r: DATASETS.index(r["dataset"]) if r["dataset"] in DATASETS else len(DATASETS))


def _note(rows: list[dict[str, Any]]) -> str:
    sampled = [
        f"{r['dataset']} ({r['sweep']['n_train']} of {r['n_train_full']})"
        for r in rows
        if r["sweep"]["n_train"] < r["n_train_full"]
    ]
    return (
        "Recommendation: the earliest layer within 0.5 points of the best 5-fold CV accuracy on the training "
        "data; test accuracy on each test split. "
        + (f"Seeded training samples (seed 0): {', '.join(sampled)}." if sampled else "Full training sets.")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--model", default=None, help="encoder (default: minilm)")
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--max-train", type=int, default=None, help="seeded sample of at most N training rows")
    parser.add_argument("--export", action="store_true", help="also train+export the recommended and last layer")
    parser.add_argument(
        "--export-only",
        action="store_true",
        help="no sweep: train, export and time the recommended and last layer of datasets already swept",
    )
    parser.add_argument(
        "--doc-only", action="store_true", help="regenerate the tables and docs section from the results only"
    )
    args = parser.parse_args(argv)
    if args.doc_only:
        _rewrite_tables()
        write_section(DOC, SECTION, _section())
        print(f"wrote the {SECTION} section of {DOC}")
        return 0

    import sys

    tag = Path(args.model).name if args.model else "minilm"
    out = RESULTS / f"layers_{tag}.json"
    names = args.datasets.split(",")
    earlier = {r["dataset"]: r for r in _earlier(out)}
    if args.export_only and (missing := [n for n in names if n not in earlier]):
        raise SystemExit(f"{out} has no sweep of {', '.join(missing)}: run without --export-only first")

    from probe_train.embedding_cache import EmbeddingCache
    from probe_train.encoder import load_encoder
    from probe_train.layers import plot_sweep, sweep_layers

    shown = [_relative(a) for a in (sys.argv[1:] if argv is None else argv)]
    command = "python -m benchmarks.layer_report " + " ".join(shown)
    encoder = None if args.export_only else load_encoder(args.model)
    rows = list(earlier.values())
    for name in names:
        started = _load()
        if args.export_only:
            row = dict(earlier[name])
            rec, n_train = row["sweep"]["recommended"], row["sweep"]["n_train"]
            train, _, full = train_test(name, n_train if n_train < row["n_train_full"] else None)
            layer, pooling, l2 = rec["layer"], rec["pooling"], rec["normalize"]
            row["export_command"] = command
        else:
            train, test, full = train_test(name, args.max_train)
            assert encoder is not None
            sweep = sweep_layers(encoder, train, test, cache=EmbeddingCache())
            plot_sweep(sweep, RESULTS / f"layers_{tag}_{name}.png")
            row = {"dataset": name, "n_train_full": full, "sweep": sweep.to_json_dict(), "command": command}
            r = sweep.recommended
            layer, pooling, l2 = r.layer, r.pooling, r.normalize
            print(f"{name}: recommended layer {r.layer} {r.name}, CV {100 * r.cv_accuracy:.2f}", flush=True)
        if (args.export or args.export_only) and layer < row["sweep"]["n_layers"]:
            train_file = _train_file(name, train, full)
            test_file = dataset_file(name, "test")
            row["export"] = _export_pair(name, train_file, test_file, args.model, layer, pooling, l2, row["sweep"])
            print(f"{name}: {row['export']['speedup']:.2f}x the last layer's throughput", flush=True)
        row["load"] = [started, _load()]  # 1-minute load average at the start and end of this dataset's run
        rows = _merge(rows, [row])
        note = _note(rows)
        write_results(out, {"model": tag, "rows": rows, "note": note}, _markdown(tag, rows, note))
        write_section(DOC, SECTION, _section())  # after each dataset: an interrupted run keeps what it measured
    print(f"wrote {out}, {out.with_suffix('.md')} and the {SECTION} section of {DOC}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
