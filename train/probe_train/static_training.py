"""`probe train --encoder static`: which static table to distil, the table itself (cached), its features.

Distilling runs the whole encoder once per vocabulary token (MiniLM: 30,522 tokens, about 4-5 minutes on a
2-core CPU), so a table is kept on disk and read back by the next run: under the user's cache directory
(``$PROBE_CACHE``, else ``~/.cache/probe``; `embedding_cache.default_cache_dir`), in ``static/``, never beside
the user's data. An entry's name is the SHA-256 of what the table depends on: the encoder's files (their
SHA-256, `embedding_cache.encoder_sha256`), the dimensions and the SIF coefficient; an entry that cannot be
read or has the wrong shape is distilled again. An encoder not on disk (no files to hash) is never cached.
"""

from __future__ import annotations

import hashlib
import json
import logging
import zipfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from probe_runtime.atomic import atomic_path
from probe_runtime.choices import EncoderKind

from .classifier_module import text_encoder
from .embedding_cache import default_cache_dir, encoder_sha256
from .encoder import Encoder
from .errors import FieldUsageError
from .static_encoder import DEFAULT_DIMS, DEFAULT_SIF, StaticTable, distill_static, embed_static

__all__ = ["STATIC_LEARNING_RATE", "EncoderKind", "StaticSpec", "static_features", "static_table"]

log = logging.getLogger(__name__)
FORMAT = 1  # bump when what a cached table holds changes meaning
# Fine-tuning a table and a linear head needs a far larger step than a transformer's 5e-5
# (benchmarks/static_report.py fine-tunes at 1e-2); the default when --learning-rate is not given.
STATIC_LEARNING_RATE = 1e-2


@dataclass(frozen=True)
class StaticSpec:
    """Which static table to distil: ``dims`` PCA dimensions (at most the encoder's hidden size) and the
    SIF coefficient (None: every token weighs 1). Checked on creation, and against the encoder by `check`."""

    dims: int = DEFAULT_DIMS
    sif: float | None = DEFAULT_SIF

    def __post_init__(self) -> None:
        if isinstance(self.dims, bool) or not isinstance(self.dims, int) or self.dims < 1:
            raise FieldUsageError(
                f"{{static_dims}} must be a whole number of at least 1, not {self.dims!r}", "static_dims"
            )

    def check(self, encoder: Encoder) -> None:
        """The dimensions fit the encoder: PCA keeps at most as many as the encoder's vectors have."""
        if self.dims > encoder.hidden_size:
            raise FieldUsageError(
                f"{{static_dims}} is {self.dims}, but {encoder.name} has {encoder.hidden_size}-dimensional vectors: "
                f"use 1 to {encoder.hidden_size}",
                "static_dims",
            )


def _key(encoder_hash: str, spec: StaticSpec) -> str:
    described = {"encoder_sha256": encoder_hash, "dims": spec.dims, "sif": spec.sif, "format": FORMAT}
    return hashlib.sha256(json.dumps(described, sort_keys=True).encode()).hexdigest()[:32]


def _read(path: Path, encoder: Encoder, spec: StaticSpec) -> StaticTable | None:
    """The cached table, or None (absent, unreadable or the wrong shape: distilled again)."""
    try:
        with np.load(path, allow_pickle=False) as saved:
            vectors, weights, kept = saved["vectors"], saved["weights"], float(saved["explained_variance"])
    except FileNotFoundError:
        return None
    except (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError) as exc:
        log.warning("static table cache: ignoring unreadable %s (%s)", path, exc)
        return None
    if vectors.shape != (len(encoder.tokenizer), spec.dims) or weights.shape != (len(vectors),):
        log.warning("static table cache: ignoring %s: shape %s", path, vectors.shape)
        return None
    return StaticTable(vectors.astype(np.float32), weights.astype(np.float32), encoder.name, spec.sif, kept)


def static_table(
    encoder: Encoder,
    spec: StaticSpec,
    cache_root: Path | None = None,
    *,
    cache: bool = True,
    show_progress: bool = False,
) -> StaticTable:
    """``encoder`` distilled per ``spec`` (`static_encoder.distill_static`), read from the cache when it was
    distilled before; ``cache_root`` None: the user's cache directory; ``cache`` False: neither read nor write."""
    spec.check(encoder)
    digest = encoder_sha256(encoder) if cache else None
    path = None if digest is None else (cache_root or default_cache_dir()) / "static" / f"{_key(digest, spec)}.npz"
    if path is not None:
        found = _read(path, encoder, spec)
        if found is not None:
            return found
    table = distill_static(encoder, spec.dims, spec.sif, show_progress=show_progress)
    if path is not None:
        with atomic_path(path) as tmp, open(tmp, "wb") as f:  # a file object: np.savez would append ".npz"
            np.savez(f, vectors=table.vectors, weights=table.weights, explained_variance=table.explained_variance)
    return table


def static_features(table: StaticTable, encoder: Encoder, texts: Sequence[str], normalize: bool = False) -> np.ndarray:
    """The pooled static vectors of ``texts``, tokenized by the runtime's own path (what the file will read)."""
    return embed_static(table, text_encoder(encoder), texts, normalize=normalize)
