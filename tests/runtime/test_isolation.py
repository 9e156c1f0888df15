"""The runtime is its own light distribution: it must install alone and never pull in the heavy stack."""

from __future__ import annotations

import os
import subprocess
import sys
import venv
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
HEAVY = ("torch", "transformers", "sklearn", "optimum", "probe_train", "probe_export")
# Plotting is an optional extra (`bench --plot`): probe_runtime/plot.py imports it inside a function, never at import.
LAZY = ("matplotlib",)


def _loaded_heavy_modules(python: str, code: str) -> list[str]:
    probe = f"{code}\nimport sys\nprint(' '.join(m for m in {HEAVY + LAZY!r} if m in sys.modules))"
    out = subprocess.run([python, "-c", probe], capture_output=True, text=True, check=True, cwd=ROOT)
    return out.stdout.split()


def test_importing_and_running_the_runtime_loads_no_heavy_library(int8_model):
    code = (
        "import probe_runtime\n"
        "from probe_runtime.cli import main\n"
        "import probe_runtime.plot\n"
        f"clf = probe_runtime.Classifier.load({str(int8_model)!r})\n"
        "clf.predict(['the movie was great'])"
    )
    assert _loaded_heavy_modules(sys.executable, code) == []


def test_runtime_installs_into_an_empty_virtualenv_and_runs_without_torch(tmp_path, int8_model):
    env_dir = tmp_path / "venv"
    venv.EnvBuilder(with_pip=True).create(env_dir)
    python = str(env_dir / "bin" / "python")
    install = subprocess.run(
        [python, "-m", "pip", "install", "--quiet", str(ROOT / "runtime")],
        capture_output=True,
        text=True,
        env={**os.environ, "PIP_DISABLE_PIP_VERSION_CHECK": "1"},
    )
    assert install.returncode == 0, install.stderr[-2000:]
    installed = subprocess.run([python, "-m", "pip", "list", "--format=freeze"], capture_output=True, text=True)
    names = {line.split("==")[0].lower() for line in installed.stdout.split()}
    assert "probe-runtime" in names
    assert not names & {"torch", "transformers", "scikit-learn"}
    code = (
        "from probe_runtime import Classifier\n"
        f"assert Classifier.load({str(int8_model)!r}).predict('the movie was great') in ('neg', 'pos')"
    )
    assert _loaded_heavy_modules(python, code) == []
    cli = subprocess.run(
        [str(env_dir / "bin" / "probe-runtime"), "info", str(int8_model)], capture_output=True, text=True
    )
    assert cli.returncode == 0, cli.stderr
    assert "labels" in cli.stdout


def test_ray_is_loaded_only_by_probe_runtime_ray_and_its_absence_names_the_install_command():
    """The `ray` extra is optional: the runtime and its CLI import without it; probe_runtime.ray names the install."""
    code = "import probe_runtime, probe_runtime.cli, probe_runtime.cli.classify\nimport sys\n"
    code += "print(' '.join(m for m in ('ray', 'pyarrow', 'pandas') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == []
    blocked = (
        "import sys\nsys.modules['ray'] = None  # as if the extra were not installed\n"
        "try:\n    import probe_runtime.ray\nexcept ImportError as exc:\n    print(exc)"
    )
    out = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, check=True, cwd=ROOT)
    assert 'pip install "probe-runtime[ray]"' in out.stdout


def test_the_server_stack_is_loaded_only_by_serve_and_its_absence_names_the_install_command():
    """The `serve` extra is optional: the runtime and its CLI (`serve` included) import without Starlette or uvicorn."""
    code = "import probe_runtime, probe_runtime.cli, probe_runtime.cli.serve\nimport sys\n"
    code += "print(' '.join(m for m in ('starlette', 'uvicorn', 'h11', 'anyio') if m in sys.modules))"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=ROOT)
    assert out.stdout.split() == []
    blocked = (
        "import sys\nsys.modules['starlette'] = None  # as if the extra were not installed\n"
        "try:\n    import probe_runtime.serve\nexcept ImportError as exc:\n    print(exc)"
    )
    out = subprocess.run([sys.executable, "-c", blocked], capture_output=True, text=True, check=True, cwd=ROOT)
    assert 'pip install "probe-runtime[serve]"' in out.stdout


@pytest.mark.parametrize("package", ["runtime/src/probe_runtime"])
def test_runtime_source_never_imports_our_other_packages_or_heavy_libraries(package):
    for path in (ROOT / package).rglob("*.py"):
        text = path.read_text()
        for name in HEAVY:
            assert f"import {name}" not in text and f"from {name}" not in text, f"{path} imports {name}"
