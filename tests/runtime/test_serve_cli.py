"""`probe-runtime serve`'s mistakes: each is one line naming the option and the fix, a non-zero exit, no traceback,
and nothing is loaded or bound before the options are known to be right."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
from probe_runtime.cli import main

from tests.runtime.serving import ROOT


def one_line_error(capsys) -> str:
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1, err
    assert "Traceback" not in err
    return err


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["--port", "70000"], "--port: expected a port number from 0 to 65535, got 70000"),
        (["--port", "http"], "--port: expected a port number"),
        (["--max-batch-tokens", "0"], "--max-batch-tokens: must be at least 1"),
        (["--max-batch-wait-ms", "5000"], "--max-batch-wait-ms: expected milliseconds from 0 to 1000"),
        (["--access-log", "xml"], "--access-log: invalid choice"),
        (["--threshold", "2"], "--threshold: must be a number from 0 to 1"),
        (["--drain-timeout", "0"], "--drain-timeout: expected more than 0 seconds"),
    ],
)
def test_a_bad_option_is_one_usage_line(int8_model, capsys, args, says):
    assert main(["serve", str(int8_model), *args]) == 2
    assert says in one_line_error(capsys)


def test_a_missing_model_or_key_file_is_one_line(int8_model, tmp_path, capsys, monkeypatch):
    assert main(["serve", str(tmp_path / "nope.onnx")]) == 1
    assert "model file not found" in one_line_error(capsys)
    assert main(["serve", str(int8_model), "--api-key-file", str(tmp_path / "key")]) == 2
    err = one_line_error(capsys)
    assert "--api-key-file" in err and "no such file" in err
    (tmp_path / "empty").write_text("\n")
    assert main(["serve", str(int8_model), "--api-key-file", str(tmp_path / "empty")]) == 2
    assert "must hold the key alone on one line" in one_line_error(capsys)
    monkeypatch.setenv("PROBE_API_KEY", " ")
    assert main(["serve", str(int8_model)]) == 2
    assert "$PROBE_API_KEY is set but empty" in one_line_error(capsys)


def test_a_busy_port_is_one_line_naming_the_address(int8_model, capsys):
    with socket.create_server(("127.0.0.1", 0)) as busy:
        port = busy.getsockname()[1]
        assert main(["serve", str(int8_model), "--port", str(port)]) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in one_line_error(capsys)


def test_without_the_serve_extra_the_error_names_the_install_command(int8_model):
    code = (
        "import sys\nsys.modules['uvicorn'] = None  # as if the extra were not installed\n"
        "from probe_runtime.cli import main\n"
        f"sys.exit(main(['serve', {str(int8_model)!r}]))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 2
    assert result.stderr.strip().splitlines() == [
        "probe-runtime: error: probe-runtime serve needs Starlette and uvicorn, not installed here: "
        'pip install "probe-runtime[serve]"'
    ]


def test_help_explains_the_routes_limits_and_extra():
    result = subprocess.run(
        [sys.executable, "-m", "probe_runtime.cli", "serve", "--help"], capture_output=True, text=True, cwd=ROOT
    )
    assert result.returncode == 0
    for words in (
        "/predict",
        "/embed",
        "/metrics",
        "--max-batch-tokens",
        "--max-concurrent-requests",
        "429",
        "--api-key-file",
        "probe-runtime[serve]",
        "127.0.0.1",
    ):
        assert words in result.stdout, words
