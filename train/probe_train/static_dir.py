"""How a model directory keeps a static encoder: the table in ``static_table.npz`` (vectors and per-token
weights, read with ``allow_pickle=False``), its details in config.json (``encoder_kind`` and ``static``).

A directory without ``encoder_kind`` (every one written before the static tier) is a transformer model.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

import numpy as np

from .head_fit import damaged, read_arrays
from .static_encoder import StaticTable
from .static_training import EncoderKind

__all__ = ["STATIC_TABLE", "encoder_kind", "read_static_table", "static_config", "write_static_table"]

STATIC_TABLE = "static_table.npz"


def static_config(table: StaticTable | None) -> dict[str, Any]:
    """config.json's fields for the encoder kind: ``encoder_kind``, and with a table its details."""
    if table is None:
        return {"encoder_kind": EncoderKind.TRANSFORMER.value}
    kept = table.explained_variance
    details = {
        "distilled_from": table.encoder,
        "dims": table.dims,
        "vocab_size": table.vocab_size,
        "sif": table.sif,
        "explained_variance": None if math.isnan(kept) else round(kept, 6),  # NaN: the table was fine-tuned
    }
    return {"encoder_kind": EncoderKind.STATIC.value, "static": details}


def write_static_table(staging: Path, table: StaticTable) -> None:
    np.savez(staging / STATIC_TABLE, vectors=table.vectors, weights=table.weights)


def encoder_kind(config_path: Path, config: dict[str, Any]) -> EncoderKind:
    """The directory's encoder kind (absent: a transformer, as every directory before the static tier)."""
    value = config.get("encoder_kind", EncoderKind.TRANSFORMER.value)
    if value not in EncoderKind.values():
        raise damaged(config_path, f"field 'encoder_kind' is {value!r}, not one of {sorted(EncoderKind.values())}")
    return EncoderKind(value)


def _details(config_path: Path, config: dict[str, Any]) -> tuple[str, float | None, float]:
    details = config.get("static")
    if not isinstance(details, dict) or not isinstance(details.get("distilled_from"), str):
        raise damaged(config_path, "field 'static' must be an object naming the encoder the table was distilled from")
    sif, kept = details.get("sif"), details.get("explained_variance")
    for name, value in (("sif", sif), ("explained_variance", kept)):
        if value is not None and (isinstance(value, bool) or not isinstance(value, (int, float))):
            raise damaged(config_path, f"field 'static.{name}' is {value!r}, not a number")
    return details["distilled_from"], None if sif is None else float(sif), float("nan") if kept is None else float(kept)


def read_static_table(path: Path, config_path: Path, config: dict[str, Any], head_dims: int) -> StaticTable:
    """The table a static model directory keeps, checked against its config and its head."""
    source, sif, kept = _details(config_path, config)
    table_path = path / STATIC_TABLE
    vectors, weights = read_arrays(table_path, ("vectors", "weights"), "a static model keeps its token table there")
    if vectors.ndim != 2 or weights.shape != (vectors.shape[0],) or vectors.shape[1] != head_dims:
        raise damaged(
            table_path,
            f"vectors {vectors.shape} and weights {weights.shape} do not fit the head's {head_dims} dimensions "
            f"(expected [vocab, {head_dims}] and [vocab])",
        )
    if vectors.dtype.kind != "f" or not (np.isfinite(vectors).all() and np.isfinite(weights).all()):
        raise damaged(table_path, "vectors and weights must be finite floating-point numbers")
    return StaticTable(vectors.astype(np.float32), weights.astype(np.float32), source, sif, kept)
