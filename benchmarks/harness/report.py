"""Render a harness result (``results/latest.json``) as a markdown table, or as a PNG plot.

``python -m benchmarks.harness.report benchmarks/results/latest.json`` prints the markdown; ``--into DOC.md``
puts any result's table (the ``.md`` beside its JSON: harness, spinning, single_text) into DOC's marked
section of that name (``--section``); ``--plot`` writes ``latest.png`` next to the JSON (needs
matplotlib, installed in the Optimum environment only so the main one stays lean).
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

__all__ = ["markdown"]


def _span(stat: dict, fmt: str) -> str:
    return f"{stat['median']:{fmt}} ({stat['min']:{fmt}}–{stat['max']:{fmt}})"


def markdown(report: dict) -> str:
    encoder = report.get("encoder", "all-MiniLM-L6-v2")
    base_name = (
        "probe-default" if "probe-default" in next(iter(report["sets"].values()))["contenders"] else "probe-int8"
    )
    base_label = "probe default" if base_name == "probe-default" else "probe int8"
    lines = [
        f"Run {report['started']} on **{report['cpu']}**, encoder {encoder}, "
        f"{report['threads']} threads per contender, "
        f"{report['reps']} repetitions (median, min–max), contenders interleaved. Load average "
        f"{report['load_average_start']} at start, {report['load_average_end']} at end. "
        f"Batch size {report['batch_size_others']} for the others; probe-runtime uses its defaults "
        "(length-sorted, token-budget batches).",
        "",
        f"Reproduce: `{report['command']}`",
    ]
    for name, data in report["sets"].items():
        tok = data["tokens"]
        rows = data["contenders"]
        base = rows.get(base_name, {}).get("texts_per_s", {}).get("median")
        base_p50 = rows.get(base_name, {}).get("p50_ms", {}).get("median")
        lines += [
            "",
            f"### {name}: {data['texts']} texts, {encoder} tokens per text mean {tok['mean']}, p50 {tok['p50']:g}, "
            f"p90 {tok['p90']:g}, p99 {tok['p99']:g}, max {tok['max']}",
            "",
            f"Token-length histogram: {', '.join(f'{k}: {v}' for k, v in tok['histogram'].items())}",
            "",
            f"| contender | texts/s | {base_label} is × faster | texts per CPU-s | p50 batch-1 ms "
            f"| {base_label} p50 ÷ this p50 | p95 batch-1 ms | cold start s | peak RSS MB "
            "| argmax agreement with PyTorch fp32 |",
            "|---|---|---|---|---|---|---|---|---|---|",
        ]
        for row in rows.values():
            if "skipped" in row:
                lines.append(f"| {row['label']} | skipped: {row['skipped']} | | | | | | | | |")
                continue
            ratio = base / row["texts_per_s"]["median"] if base else float("nan")
            p50_ratio = base_p50 / row["p50_ms"]["median"] if base_p50 else float("nan")
            agree = row.get("agreement_with_torch_fp32")
            lines.append(
                f"| {row['label']} | {_span(row['texts_per_s'], ',.0f')} | {ratio:.2f} "
                f"| {row['texts_per_cpu_s']['median']:,.0f} | {_span(row['p50_ms'], '.2f')} | {p50_ratio:.2f} "
                f"| {_span(row['p95_ms'], '.2f')} | {_span(row['cold_start_s'], '.2f')} "
                f"| {_span(row['peak_rss_mb'], '.0f')} | {'' if agree is None else f'{agree:.4f}'} |"
            )
    lines += ["", "Install size (site-packages):", ""]
    lines += [f"- {k}: {v if v is None else f'{v:,.0f} MB'}" for k, v in report["install_mb"].items()]
    return "\n".join(lines) + "\n"


def plot(path: Path) -> Path:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = json.loads(path.read_text())
    sets = list(report["sets"])
    fig, axes = plt.subplots(1, len(sets), figsize=(6.5 * len(sets), 4.2), squeeze=False)
    for ax, name in zip(axes[0], sets):
        rows = [
            (r["label"], r["texts_per_s"]) for r in report["sets"][name]["contenders"].values() if "skipped" not in r
        ]
        rows.sort(key=lambda item: item[1]["median"])
        labels = [label for label, _ in rows]
        med = [s["median"] for _, s in rows]
        err = [[s["median"] - s["min"] for _, s in rows], [s["max"] - s["median"] for _, s in rows]]
        colors = ["tab:orange" if label.startswith("probe-runtime default") else "tab:blue" for label in labels]
        ax.barh(labels, med, xerr=err, color=colors, capsize=3)
        ax.set_xlabel("texts / s (median, min–max)")
        ax.set_title(f"{name}: mean {report['sets'][name]['tokens']['mean']} tokens, {report['threads']} threads")
    fig.suptitle(f"{report.get('encoder', 'all-MiniLM-L6-v2')} + the same probe head, {report['cpu']}, "
                 f"{report['started']}", fontsize=9)  # fmt: skip
    fig.tight_layout()
    target = path.with_suffix(".png")
    fig.savefig(target, dpi=110)
    return target


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("result", type=Path)
    parser.add_argument("--plot", action="store_true")
    parser.add_argument("--into", type=Path, help="a document: put the result's table (its .md) in a marked section")
    parser.add_argument("--section", help="with --into: the section's name (default: the result's file stem)")
    args = parser.parse_args(argv)
    if args.into:
        from benchmarks.common.record import write_section

        table = args.result.with_suffix(".md").read_text(encoding="utf-8")
        write_section(args.into, args.section or args.result.stem, table)
        print(f"wrote section {args.section or args.result.stem} of {args.into}")
    elif args.plot:
        print(f"wrote {plot(args.result)}")
    else:
        print(markdown(json.loads(args.result.read_text())), end="")


if __name__ == "__main__":
    main()
