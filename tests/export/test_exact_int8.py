"""int8 whose integer arithmetic is the same on every x86 CPU, checked on whatever CPU runs the suite.

onnxruntime's u8 x s8 kernels on AVX2 and AVX-512 without VNNI add adjacent product pairs into a saturating int16
(`probe_export.exactness`); VNNI and AMX do not. The exporter's int8 keeps every pair below 32,767 (7-bit weights:
255 x 64 x 2 = 32,640), so the integers are identical everywhere. These tests hold the shipped graph to that three
ways that need no particular CPU: a static bound over its weights and activation ranges, a numpy model of the AVX2
instruction that gives the exact product on its worst-case inputs, and onnxruntime's own integer matmuls on real
inputs against exact int64 numpy on this machine. Where qemu's user-mode emulator is installed, the file also runs
on an emulated AVX2-only CPU (`-cpu Haswell`: onnxruntime picks its AVX2 kernels there) and must pass its
self-check, while a file with 8-bit weights is refused.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import onnx
import pytest
from conftest import synthetic_rows
from onnx import numpy_helper
from probe_export.exactness import INT16_MAX, integer_matmul_error, pair_saturating_matmul, saturation_report
from probe_export.graph import quantize_int8
from probe_export.writer import write_artifact
from probe_runtime import Classifier
from probe_runtime.artifact import manifest_from_metadata
from probe_runtime.canary import record_canaries
from probe_runtime.choices import Quantization
from probe_runtime.integrity import metadata

QEMU = shutil.which("qemu-x86_64")
needs_qemu = pytest.mark.skipif(
    QEMU is None or sys.platform != "linux",
    reason="needs qemu's x86-64 user-mode emulator to run on an emulated AVX2-only CPU (apt-get install qemu-user)",
)


def _loud_feeds(clf: Classifier) -> list[dict[str, np.ndarray]]:
    """Batches of varied texts, some long and repetitive, so that activations reach their row maxima."""
    texts = [t for t, _ in synthetic_rows(40, seed=11)]
    texts += [" ".join(texts[i : i + 8]) * 3 for i in range(0, 40, 8)]
    return [b.feeds for b in clf.encoder.batches(clf.encoder.encode(texts), 16, 10**9)]


def _weights(path: Path) -> list[np.ndarray]:
    model = onnx.load(str(path))
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return [inits[n.input[1]] for n in model.graph.node if n.op_type == "MatMulIntegerToFloat"]


@pytest.mark.parametrize("kind", ["int8-per-token", "int8"])
def test_no_input_can_saturate_any_integer_matmul_of_a_shipped_file(tiny_artifacts, kind):
    report = saturation_report(onnx.load(str(tiny_artifacts[kind])))
    assert report.nodes > 0
    assert report.exact and report.worst_pair_sum <= INT16_MAX


@pytest.mark.parametrize("kind", ["int8-per-token", "int8"])
def test_the_file_records_its_bound_and_info_says_what_it_means(tiny_artifacts, kind, capsys):
    from probe_runtime.cli import main

    bound = Classifier.load(tiny_artifacts[kind]).manifest.verification.int8_worst_pair_sum
    assert bound == saturation_report(onnx.load(str(tiny_artifacts[kind]))).worst_pair_sum
    assert main(["info", str(tiny_artifacts[kind])]) == 0
    assert f"worst product pair {bound:,} (int16 limit 32,767): the same integers on every x86 CPU" in (
        capsys.readouterr().out
    )


def test_the_eight_bit_weights_shipped_before_could(tiny_artifacts, tmp_path):
    old = tmp_path / "w8.onnx"
    quantize_int8(_fp32_graph(tiny_artifacts["fp32"], tmp_path), old, per_token=True, weight_bits=8)
    report = saturation_report(onnx.load(str(old)))
    assert not report.exact and report.worst_pair_sum > INT16_MAX


def test_the_avx2_instruction_computes_the_shipped_weights_exactly_on_their_worst_inputs(tiny_artifacts, tmp_path):
    old = tmp_path / "w8.onnx"
    quantize_int8(_fp32_graph(tiny_artifacts["fp32"], tmp_path), old, per_token=True, weight_bits=8)
    for path, exact_everywhere in ((tiny_artifacts["int8-per-token"], True), (old, False)):
        differs = []
        for w in _weights(path):
            worst = np.where(np.sign(w[:, :1]).T >= 0, 255, 1).astype(np.uint8)  # every pair pushed the same way
            loud = np.concatenate([worst, np.full((1, w.shape[0]), 255, np.uint8)])
            exact = loud.astype(np.int64) @ w.astype(np.int64)
            differs.append(not np.array_equal(pair_saturating_matmul(loud, w), exact))
        assert not any(differs) if exact_everywhere else any(differs)


@pytest.mark.parametrize("kind", ["int8-per-token", "int8"])
def test_onnxruntime_computes_every_integer_matmul_exactly_on_this_cpu(tiny_artifacts, kind):
    clf = Classifier.load(tiny_artifacts[kind])
    assert integer_matmul_error(tiny_artifacts[kind], _loud_feeds(clf)) < 1e-5  # fp32 conversion only


def _fp32_graph(fp32_artifact: Path, tmp_path: Path) -> Path:
    model = onnx.load(str(fp32_artifact))
    del model.metadata_props[:]
    path = tmp_path / "fp32-graph.onnx"
    onnx.save(model, str(path))
    return path


def _eight_bit_artifact(fp32_artifact: Path, tmp_path: Path) -> Path:
    """The fp32 file's model with the 8-bit-weight per-token int8 shipped until now, its canaries taken here."""
    manifest, tokenizer = manifest_from_metadata(metadata(fp32_artifact.read_bytes()), str(fp32_artifact))
    graph = tmp_path / "w8-graph.onnx"
    quantize_int8(_fp32_graph(fp32_artifact, tmp_path), graph, per_token=True, weight_bits=8)
    manifest = replace(manifest, quantization=Quantization.INT8_PER_TOKEN)
    canaries = record_canaries(Classifier.from_graph(graph, manifest, tokenizer).predict_proba, "here")
    return write_artifact(graph, replace(manifest, canaries=canaries), tokenizer, tmp_path / "w8.onnx")


def _under_avx2(paths: dict[str, Path]) -> dict:
    """Load each file on qemu's emulated Haswell (AVX2, no AVX-512, no VNNI) and report its self-check."""
    script = (
        "import json, sys\n"
        "from probe_runtime import Classifier, CpuMismatchError\n"
        "from probe_runtime.cpu import int8_instructions\n"
        "out = {'cpu': int8_instructions()}\n"
        "for kind, path in json.loads(sys.argv[1]).items():\n"
        "    try:\n"
        "        out[kind] = Classifier.load(path).canary_check.max_abs_diff\n"
        "    except CpuMismatchError as exc:\n"
        "        out[kind] = str(exc)\n"
        "print(json.dumps(out))\n"
    )
    argv = [
        str(QEMU),
        "-cpu",
        "Haswell",
        sys.executable,
        "-c",
        script,
        json.dumps({k: str(p) for k, p in paths.items()}),
    ]
    result = subprocess.run(argv, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-2000:]
    return json.loads(result.stdout)


@needs_qemu
def test_on_an_emulated_avx2_cpu_the_shipped_files_answer_as_here_and_an_eight_bit_file_is_refused(
    tiny_artifacts, tmp_path
):
    files = {k: tiny_artifacts[k] for k in ("int8-per-token", "int8", "fp32")}
    files["w8"] = _eight_bit_artifact(tiny_artifacts["fp32"], tmp_path)
    there = _under_avx2(files)
    assert there["cpu"] == "AVX2, no VNNI"  # onnxruntime sees an AVX2-only CPU there
    for kind in ("int8-per-token", "int8", "fp32"):
        assert isinstance(there[kind], float) and there[kind] <= 1e-4, there[kind]
    assert isinstance(there["w8"], str) and "running on" in there["w8"] and "AVX2, no VNNI" in there["w8"]
