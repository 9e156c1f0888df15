"""The machine a measurement ran on: int8 speed depends on the CPU's int8 instructions (AMX, AVX-512 VNNI).

The CPU's name and flags come from `probe_export.host` (one copy: `probe export`'s speed line uses them too).
"""

from __future__ import annotations

import os
import platform
from typing import Any

from probe_export.host import cpu_flags, cpu_name

__all__ = ["cpu_flags", "cpu_name", "host"]


def host() -> dict[str, Any]:
    """What every results file records about its machine."""
    import onnxruntime  # here, not at import: `--help` of every entry point stays cheap

    flags = cpu_flags()
    return {
        "cpu": cpu_name(),
        "amx_int8": "amx_int8" in flags,
        "avx512_vnni": "avx512_vnni" in flags,
        "logical_cpus": os.cpu_count(),
        "machine": platform.machine(),
        "python": platform.python_version(),
        "onnxruntime": onnxruntime.__version__,
    }
