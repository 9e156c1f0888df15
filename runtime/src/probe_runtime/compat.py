"""Can the installed onnxruntime read this file? Said before onnxruntime is asked, in terms a user can act on.

An onnxruntime older than a file's ONNX opset (or IR version) refuses it with an error about "opset … under
development" or a failed schema check, which the loader would otherwise have to report as an unreadable file:
a user whose other packages pin an older onnxruntime was told their file is corrupt (issue 26). The table below
is onnxruntime's own compatibility table (docs: "ONNX Runtime compatibility", ONNX opset and IR version support by
release), for the versions probe files can carry; a file newer than the table knows is sent to onnxruntime as is.
A release can also read an opset and still lack a kernel feature a graph uses: onnxruntime 1.18 reads opset 21 but
its CPU QuantizeLinear ignores ``block_size`` (the per-row quantization of per-token int8) and fails at run time,
measured with 1.18.0 and 1.18.1. The exporter therefore records the release its graph needs
(``Manifest.requires_onnxruntime``), and the larger of the two requirements applies.
"""

from __future__ import annotations

import onnxruntime as ort

from .errors import ArtifactError

__all__ = [
    "BLOCKED_QUANTIZE_SINCE",
    "MINIMUM_ONNXRUNTIME",
    "check_onnxruntime",
    "installed_onnxruntime",
    "required_onnxruntime",
    "version_text",
]

Version = tuple[int, int]

# The first onnxruntime release that reads each default-domain opset and each IR version.
_OPSET_SINCE: dict[int, Version] = {17: (1, 13), 18: (1, 14), 19: (1, 15), 20: (1, 17), 21: (1, 18)}
_IR_SINCE: dict[int, Version] = {8: (1, 13), 9: (1, 15), 10: (1, 18)}
# The first release whose CPU QuantizeLinear honours ``block_size`` (per-token int8; module docstring).
BLOCKED_QUANTIZE_SINCE: Version = (1, 19)
# What this probe-runtime declares and tests (runtime/pyproject.toml; tests/runtime/test_dependency_floor.py):
# the exporter's default file (per-token int8) needs blocked QuantizeLinear.
MINIMUM_ONNXRUNTIME: Version = BLOCKED_QUANTIZE_SINCE


def version_text(version: Version) -> str:
    return f"{version[0]}.{version[1]}"


def _version(text: str) -> Version:
    """``(major, minor)`` of a version string such as ``1.20.1`` or ``1.21.0.dev20240101``."""
    major, minor, *_ = [int("".join(c for c in part if c.isdigit()) or 0) for part in text.split(".")] + [0, 0]
    return major, minor


def installed_onnxruntime() -> Version:
    return _version(ort.__version__)


def required_onnxruntime(
    ir_version: int, opsets: dict[str, int], recorded: str | None = None
) -> tuple[Version, str] | None:
    """The oldest onnxruntime that runs a file of this IR version and default-domain opset whose exporter recorded
    ``recorded`` (``Manifest.requires_onnxruntime``), and why; None when the table knows no requirement."""
    needs: list[tuple[Version, str]] = []
    if recorded:
        needs.append((_version(recorded), "int8-per-token (blocked QuantizeLinear)"))
    opset = opsets.get("", 0)
    if opset in _OPSET_SINCE:
        needs.append((_OPSET_SINCE[opset], f"ONNX opset {opset}"))
    if ir_version in _IR_SINCE:
        needs.append((_IR_SINCE[ir_version], f"IR version {ir_version}"))
    return max(needs) if needs else None


def check_onnxruntime(ir_version: int, opsets: dict[str, int], source: str, recorded: str | None = None) -> None:
    """``ArtifactError`` naming what the file uses, the onnxruntime it needs and the pip command, when the installed
    onnxruntime is older than that."""
    need = required_onnxruntime(ir_version, opsets, recorded)
    here = installed_onnxruntime()
    if need is None or here >= need[0]:
        return
    version, what = need
    wanted = version_text(version)
    raise ArtifactError(
        f"{source} is an {what} graph, which onnxruntime {ort.__version__} (installed) cannot run: it needs "
        f"onnxruntime {wanted} or later. Upgrade it with: pip install 'onnxruntime>={wanted}'"
    )
