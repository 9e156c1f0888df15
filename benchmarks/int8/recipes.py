"""Small pieces the int8 studies in research/ share: quantization options and numpy fake quantization.

Shared here (not imported from one study by another) so each study can be read and rerun on its own.
"""

from __future__ import annotations

import numpy as np
import onnx

__all__ = ["FLOAT", "fake_asym", "fake_sym"]

# ``quantize_dynamic(extra_options=FLOAT)``: tensors of unknown type are float, so it quantizes them.
FLOAT = {"DefaultTensorType": onnx.TensorProto.FLOAT}


def fake_asym(x: np.ndarray, axis: int | None) -> np.ndarray:
    """uint8 asymmetric fake quantization like DynamicQuantizeLinear, per tensor (None) or per row (-1)."""
    lo = np.minimum(x.min(axis=axis, keepdims=True), 0)
    hi = np.maximum(x.max(axis=axis, keepdims=True), 0)
    scale = np.maximum((hi - lo) / 255, 1e-12)
    zp = np.clip(np.round(-lo / scale), 0, 255)
    return (np.clip(np.round(x / scale) + zp, 0, 255) - zp) * scale


def fake_sym(x: np.ndarray, axis: int) -> np.ndarray:
    """int8 symmetric fake quantization along ``axis`` (the rounding the int8 files apply to weights)."""
    scale = np.maximum(np.abs(x).max(axis=axis, keepdims=True) / 127, 1e-12)
    return np.round(x / scale) * scale
