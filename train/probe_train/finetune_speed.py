"""Fine-tuning's CPU speed lever: bf16 autocast of the training forward pass where the CPU multiplies bf16 natively.

Why: on a CPU with AVX512-BF16 or AMX, oneDNN runs bf16 matrix products at up to twice fp32's rate, and
autocast keeps the master weights, the optimizer and the loss in fp32, so only the products lose
precision. Measured with ``benchmarks/finetune_speed.py`` (MiniLM, the broad prompt-injection set,
128 tokens, one thread, AMD EPYC with AVX512-BF16, no AMX): 1.7x the training examples per CPU-second
of fp32. On a CPU without those instructions autocast emulates bf16 and is slower, so ``auto`` (the
default) turns it on only where ``/proc/cpuinfo`` lists them.

Only training steps run under autocast. Validation, the operating point and the export's reference run
in fp32, so every figure and decision describes the model the exported file computes.

``PROBE_FINETUNE_BF16=auto|on|off`` overrides the choice (``off`` reproduces an fp32 run exactly; a run
with bf16 differs from it by rounding, as runs on different CPUs already do).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

import torch
from probe_runtime.errors import UsageError

__all__ = ["BF16_ENV", "BF16_FLAGS", "bf16_native", "cpu_flags", "training_autocast", "use_bf16"]

BF16_ENV = "PROBE_FINETUNE_BF16"
# /proc/cpuinfo flags of native bf16 matrix products: AVX512-BF16 (Cooper Lake, Zen 4+) and AMX (Sapphire Rapids+).
BF16_FLAGS = frozenset({"avx512_bf16", "amx_bf16"})
_CHOICES = ("auto", "on", "off")


def cpu_flags(cpuinfo: Path = Path("/proc/cpuinfo")) -> frozenset[str]:
    """The first processor's feature flags (empty where there is no /proc/cpuinfo, e.g. macOS)."""
    try:
        text = cpuinfo.read_text(encoding="utf-8", errors="replace")
    except OSError:
        return frozenset()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            return frozenset(value.split())
    return frozenset()


def bf16_native(flags: frozenset[str] | None = None) -> bool:
    """Whether this CPU multiplies bf16 matrices in hardware (AVX512-BF16 or AMX)."""
    return bool(BF16_FLAGS & (cpu_flags() if flags is None else flags))


def use_bf16(setting: str | None = None, flags: frozenset[str] | None = None) -> bool:
    """The choice for this run: ``setting`` (else ``$PROBE_FINETUNE_BF16``, else ``auto``) on this CPU."""
    choice = (setting if setting is not None else os.environ.get(BF16_ENV, "auto")).strip().lower()
    if choice not in _CHOICES:
        raise UsageError(f"{BF16_ENV} must be one of {', '.join(_CHOICES)}, not {choice!r}")
    return choice == "on" or (choice == "auto" and bf16_native(flags))


@contextlib.contextmanager
def training_autocast(enabled: bool) -> Iterator[None]:
    """bf16 autocast on the CPU when ``enabled``, else nothing: wraps one training forward pass."""
    if not enabled:
        yield
        return
    with torch.autocast("cpu", dtype=torch.bfloat16):
        yield
