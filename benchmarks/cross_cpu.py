"""Does a file answer the same on another kind of CPU? Each artifact's own canary self-check, run here and on an
emulated AVX2-only CPU, side by side.

    .venv/bin/python -m benchmarks.cross_cpu FILE.onnx [FILE.onnx ...] [--eight-bit] [--name cross_cpu]
    # needs qemu's user-mode emulator (apt-get install qemu-user); ~1-2 min a MiniLM file, ~5 min an MPNet one

Each file is loaded with ``self_check=False`` and its recorded canaries are run (``probe_runtime.canary``): once
in this process (the CPU it runs on, named by its int8 instructions), once under ``qemu-x86_64 -cpu Haswell``,
where onnxruntime sees AVX2 without AVX-512 or VNNI and picks those kernels, as on most laptops and older servers.
The table gives, per file and CPU: how many canaries moved beyond the tolerance, the largest |Δp|, labels
changed, and whether `Classifier.load` would accept the file there. ``--eight-bit`` also checks, for each file
with an ``fp32.onnx`` beside it (as `benchmarks.quality_report` leaves them), the per-token int8 shipped before
issue 26 (8-bit weights, which AVX2 kernels can saturate), built from that fp32 file with its canaries taken here.
Speed under qemu means nothing and is not measured. Writes benchmarks/results/<name>.{json,md}.
"""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path

from benchmarks.common.paths import REPO

RESULTS = REPO / "benchmarks" / "results"
QEMU = ["qemu-x86_64", "-cpu", "Haswell"]


def _check(path: str) -> dict:
    """The file's canaries run in this process: the `CanaryCheck` as JSON data, plus what it records."""
    from probe_runtime import Classifier
    from probe_runtime.canary import check_canaries

    clf = Classifier.load(path, self_check=False)
    canaries = clf.manifest.canaries
    if canaries is None:
        raise SystemExit(f"{path} carries no canary texts: re-export it with the current `probe export`")
    check = check_canaries(canaries, clf.predict_proba, path)
    return {**asdict(check), "passed": check.passed, "quantization": str(clf.manifest.quantization)}


def _eight_bit_twin(path: str) -> str | None:
    """``fp32.onnx`` beside ``path`` quantized with 8-bit weights (per token), sealed with canaries taken here."""
    from dataclasses import replace

    import onnx
    from probe_export.graph import quantize_int8
    from probe_export.writer import write_artifact
    from probe_runtime import Classifier
    from probe_runtime.artifact import manifest_from_metadata
    from probe_runtime.canary import record_canaries
    from probe_runtime.choices import Quantization
    from probe_runtime.integrity import metadata

    fp32 = Path(path).with_name("fp32.onnx")
    if not fp32.is_file():
        return None
    manifest, tokenizer = manifest_from_metadata(metadata(fp32.read_bytes()), str(fp32))
    bare, graph = fp32.with_name("fp32-graph.onnx"), fp32.with_name("w8-graph.onnx")
    model = onnx.load(str(fp32))
    del model.metadata_props[:]
    onnx.save(model, str(bare))
    quantize_int8(bare, graph, per_token=True, weight_bits=8)
    manifest = replace(manifest, quantization=Quantization.INT8_PER_TOKEN)
    canaries = record_canaries(Classifier.from_graph(graph, manifest, tokenizer).predict_proba, "here")
    out = fp32.with_name("int8-per-token-8-bit-weights.onnx")
    write_artifact(graph, replace(manifest, canaries=canaries), tokenizer, out)
    return str(out)


def _label(path: str) -> str:
    """``dataset/file.onnx``: the file with its folder, since every dataset's default file has the same name."""
    p = Path(path)
    return f"{p.parent.name}/{p.name}"


def _emulated(path: str) -> dict:
    cmd = [*QEMU, sys.executable, "-m", "benchmarks.cross_cpu", "--check", path]
    result = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, check=False)
    if result.returncode != 0:
        raise SystemExit(f"the emulated run of {path} failed: {result.stderr.strip().splitlines()[-1:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def markdown(rows: list[dict]) -> str:
    lines = [
        "Each file's canary self-check (24 public sample texts, the exporter's probabilities) on the CPU it was "
        "exported on and on an emulated AVX2-only CPU (`qemu-x86_64 -cpu Haswell`): canaries that moved more than "
        "the tolerance (at most 2 may), the largest |Δp|, labels changed, and whether `Classifier.load` accepts it.",
        "",
        "| file | precision | exported on | loaded on | canaries moved | max \\|Δp\\| | labels changed | loads |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for row in rows:
        for check in row["checks"]:
            lines.append(
                f"| {row['file']} | {check['quantization']} | {check['exported_on']} | {check['running_on']} "
                f"| {check['moved']} of {check['texts']} | {check['max_abs_diff']:.1e} | {check['labels_changed']} "
                f"| {'yes' if check['passed'] else 'refused'} |"
            )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["--check"]:  # the subprocess side, here or under qemu
        print(json.dumps(_check(argv[1])))
        return 0
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("files", nargs="+", help="probe artifacts exported with canaries")
    parser.add_argument("--name", default="cross_cpu", help="results file stem in benchmarks/results/")
    parser.add_argument("--eight-bit", action="store_true", help="also the 8-bit-weight twin of each file")
    args = parser.parse_args(argv)
    if shutil.which(QEMU[0]) is None:
        raise SystemExit("qemu-x86_64 not found: apt-get install qemu-user")
    from benchmarks.common.record import write_results

    out = RESULTS / f"{args.name}.json"
    # Files measured by earlier runs are kept (a file measured again replaces its row).
    rows = json.loads(out.read_text(encoding="utf-8"))["files"] if out.is_file() else []
    files = list(args.files)
    if args.eight_bit:
        files += [twin for twin in map(_eight_bit_twin, args.files) if twin]
    for path in files:
        name = _label(path)
        rows = [r for r in rows if r["file"] != name] + [{"file": name, "checks": [_check(path), _emulated(path)]}]
        print(markdown(rows).splitlines()[-1], flush=True)
    write_results(out, {"files": rows}, markdown(rows))
    print(markdown(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
