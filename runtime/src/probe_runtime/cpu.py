"""The CPU this process runs on, named by what decides int8 results and speed: its int8 matrix instructions.

onnxruntime picks its u8 x s8 GEMM kernel from the CPU: AMX, AVX-512 VNNI and AVX-VNNI add the products
into int32 exactly; AVX-512 without VNNI and AVX2 add adjacent pairs into a saturating int16 first
(``probe_export.exactness``). A file's canary check (``probe_runtime.canary``) names both machines by this,
and every speed figure the project writes names its CPU by it.

The instruction sets come from numpy's own CPUID probe where it has one (what the CPU reports to a program,
as onnxruntime's kernel choice sees it, also under an emulator), the model name and the flags numpy does not
probe (AMX, AVX-VNNI) from ``/proc/cpuinfo``. Nothing is run: the runtime calls this on load.
"""

from __future__ import annotations

import functools
import platform
from pathlib import Path

__all__ = ["cpu_flags", "cpu_model", "cpu_name", "int8_instructions"]

_CPUINFO = Path("/proc/cpuinfo")


@functools.cache
def _cpuinfo() -> dict[str, str]:
    """The first processor's ``key: value`` lines of /proc/cpuinfo (empty where there is none)."""
    try:
        text = _CPUINFO.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return {}
    fields: dict[str, str] = {}
    for line in text.splitlines():
        if not line.strip():
            if fields:
                break
            continue
        key, _, value = line.partition(":")
        fields.setdefault(key.strip(), value.strip())
    return fields


def cpu_flags() -> frozenset[str]:
    """The CPU's feature flags (x86: ``flags``; Arm: ``Features``); empty where the OS does not say."""
    info = _cpuinfo()
    return frozenset((info.get("flags") or info.get("Features") or "").split())


def cpu_model() -> str:
    """The CPU's model name (``AMD EPYC 7B13``), or the best the OS offers."""
    info = _cpuinfo()
    return info.get("model name") or info.get("Model") or platform.processor() or platform.machine() or "unknown CPU"


def _numpy_features() -> dict[str, bool]:
    """numpy's CPUID probe (``AVX2``, ``AVX512BW``, ``AVX512VNNI``…); empty if this numpy does not expose it."""
    for module in ("numpy._core._multiarray_umath", "numpy.core._multiarray_umath"):
        try:
            features = getattr(__import__(module, fromlist=["__cpu_features__"]), "__cpu_features__", None)
        except ImportError:
            continue
        if isinstance(features, dict):
            return {str(k): bool(v) for k, v in features.items()}
    return {}


def _x86_flags() -> frozenset[str]:
    """x86 flags in /proc/cpuinfo's spelling, with numpy's CPUID probe overriding what it covers."""
    flags = set(cpu_flags())
    probed = _numpy_features()
    for numpy_name, flag in (("AVX2", "avx2"), ("AVX512BW", "avx512bw"), ("AVX512VNNI", "avx512_vnni")):
        if numpy_name in probed:
            (flags.add if probed[numpy_name] else flags.discard)(flag)
    if probed and not probed.get("AVX512F", False):
        flags.discard("amx_int8")  # every AMX CPU has AVX-512: a CPU that reports none runs no AMX kernel
    if probed and not probed.get("AVX2", False):
        flags.discard("avx_vnni")
    return frozenset(flags)


def int8_instructions() -> str:
    """The int8 matrix instructions onnxruntime's kernels use here, best first: ``AMX``, ``AVX-512 VNNI``,
    ``AVX-VNNI``, ``AVX-512, no VNNI``, ``AVX2, no VNNI``, ``SSE``; on other machines the architecture
    (with ``dotprod`` / ``i8mm`` where an Arm CPU has them)."""
    machine = platform.machine().lower()
    if machine in ("x86_64", "amd64", "i686", "x86") or "sse2" in cpu_flags():
        flags = _x86_flags()
        for flag, name in (
            ("amx_int8", "AMX"),
            ("avx512_vnni", "AVX-512 VNNI"),
            ("avx_vnni", "AVX-VNNI"),
            ("avx512bw", "AVX-512, no VNNI"),
            ("avx2", "AVX2, no VNNI"),
        ):
            if flag in flags:
                return name
        return "SSE" if flags else "x86 (instructions unknown)"
    flags = cpu_flags()
    extras = [f for f in ("asimddp", "i8mm") if f in flags]
    return f"{machine}{' (' + ', '.join(extras) + ')' if extras else ''}"


def cpu_name() -> str:
    """``model name (int8 instructions)``: how every figure and check names a machine."""
    return f"{cpu_model()} ({int8_instructions()})"
