"""`probe-runtime bench --plot`: latency and throughput as a PNG, with matplotlib as an optional extra."""

from __future__ import annotations

import struct
from pathlib import Path

import pytest
from probe_runtime.cli import main
from probe_runtime.plot import SIZE_PX

FAST = ["--repeat", "1", "--warmup", "1", "--latency-texts", "5", "--batch-sizes", "1,8"]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_plot_writes_a_png_of_the_promised_size(int8_model: Path, tmp_path: Path) -> None:
    out = tmp_path / "bench.png"
    assert main(["bench", str(int8_model), *FAST, "--plot", str(out)]) == 0
    assert png_size(out) == SIZE_PX


def test_plot_replaces_a_png_only_with_overwrite(int8_model: Path, tmp_path: Path, capsys) -> None:
    out = tmp_path / "bench.png"
    assert main(["bench", str(int8_model), *FAST, "--plot", str(out)]) == 0
    assert main(["bench", str(int8_model), *FAST, "--plot", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["bench", str(int8_model), *FAST, "--plot", str(out), "--overwrite"]) == 0


@pytest.mark.parametrize("kind", ["text file", "model"])
def test_plot_never_overwrites_a_file_that_is_not_a_png(int8_model: Path, tmp_path: Path, capsys, kind: str) -> None:
    target = tmp_path / "notes.png"
    target.write_text("my notes")
    out = int8_model if kind == "model" else target
    before = out.read_bytes()
    assert main(["bench", str(int8_model), *FAST, "--plot", str(out), "--overwrite"]) == 2
    assert out.read_bytes() == before
    assert "--plot" in capsys.readouterr().err
