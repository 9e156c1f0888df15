"""The machine a measurement ran on (benchmarks and `probe export`'s speed line): int8 speed depends on the
CPU's int8 instructions (AMX, AVX-512 VNNI)."""

from __future__ import annotations

import platform
import subprocess

__all__ = ["cpu_flags", "cpu_name"]

_INT8_FLAGS = (("amx_int8", "AMX-INT8"), ("avx512_vnni", "AVX-512 VNNI"))


def _lscpu() -> dict[str, str]:
    try:
        out = subprocess.run(["lscpu"], capture_output=True, text=True, check=True).stdout
    except (OSError, subprocess.CalledProcessError):
        return {}
    pairs = (line.split(":", 1) for line in out.splitlines() if ":" in line)
    return {key.strip(): value.strip() for key, value in pairs}


def cpu_flags() -> set[str]:
    """The CPU's feature flags (empty where ``lscpu`` is unavailable)."""
    return set(_lscpu().get("Flags", "").split())


def cpu_name() -> str:
    """``lscpu`` model name and whether the CPU has AMX int8 / AVX-512 VNNI (they decide the int8 kernels)."""
    fields = _lscpu()
    if not fields:
        return platform.processor() or "unknown CPU"
    flags = set(fields.get("Flags", "").split())
    extras = [name for flag, name in _INT8_FLAGS if flag in flags]
    return f"{fields.get('Model name', 'unknown CPU')} ({', '.join(extras) if extras else 'no AMX, no AVX-512 VNNI'})"
