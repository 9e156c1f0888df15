"""The GEMM ceiling benchmark measures the file's own weight matrices, on the runtime's own batches."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from conftest import synthetic_rows
from probe_export.cli import main
from transformers import AutoConfig

from benchmarks.gemm_ceiling import ceiling_graph, macs_per_row, markdown, measure, weight_matrices


@pytest.fixture(scope="module")
def per_token_file(tiny_trained: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ceiling") / "m.onnx"
    args = ["export", str(tiny_trained), "--out", str(out), "--quantize", "int8-per-token"]
    assert main([*args, "--max-flip-rate", "100", "--significance", "0"]) == 0
    return out


def test_the_ceiling_counts_every_encoder_matrix_and_not_the_head(per_token_file: Path, tiny_encoder: Path) -> None:
    config = AutoConfig.from_pretrained(tiny_encoder)
    hidden, inner, layers = config.hidden_size, config.intermediate_size, config.num_hidden_layers
    weights = weight_matrices(onnx.load(str(per_token_file)), classes=2)
    # per layer: the fused Q/K/V projection, the attention output, the two feed-forward matrices
    assert sorted((w.rows, w.columns) for w in weights) == sorted(
        [(hidden, 3 * hidden), (hidden, hidden), (hidden, inner), (inner, hidden)] * layers
    )
    assert macs_per_row(weights) == layers * (4 * hidden * hidden + 2 * hidden * inner)


def test_the_ceiling_graph_is_one_int8_matmul_per_weight_on_rows_of_any_count(per_token_file: Path) -> None:
    weights = weight_matrices(onnx.load(str(per_token_file)), classes=2)
    session = ort.InferenceSession(ceiling_graph(weights).SerializeToString(), providers=["CPUExecutionProvider"])
    widths = sorted({w.rows for w in weights})
    for rows in (1, 7):
        outputs = session.run(None, {f"a{k}": np.full((rows, k), 128, np.uint8) for k in widths})
        assert [o.shape for o in outputs] == [(rows, w.columns) for w in weights]
        assert all(not o.any() for o in outputs)  # 128 is the zero point: every product is zero


def test_a_run_reports_both_sides_of_the_same_batches_and_where_the_rest_goes(per_token_file: Path) -> None:
    texts = [text for text, _ in synthetic_rows(40, seed=7)]
    result = measure(per_token_file, texts, rounds=2)
    assert result["texts"] == 40 and result["precision"] == "int8-per-token"
    assert len(result["file_cpu_s"]) == len(result["ceiling_cpu_s"]) == 2
    assert result["share_of_ceiling"] > 0 and result["padded_tokens"] >= 40
    assert "MatMulIntegerToFloat" in result["kernel_ms_by_op"]
    assert set(result["single_text_p50_ms"]) == {"file", "ceiling"}
    text = markdown(result, "python -m benchmarks.gemm_ceiling m.onnx", (0.1, 0.2))
    assert "of the ceiling" in text and "| the file |" in text
