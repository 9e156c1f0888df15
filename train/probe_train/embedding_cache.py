"""Frozen-encoder embeddings kept on disk, so a second layer sweep, a `probe train` on a layer the sweep
already embedded, or a re-run after a crash does not run the encoder again.

An entry is one ``.npy`` file (float32 ``[texts, hidden]``; read with ``allow_pickle=False``) named by
the SHA-256 of its key: the encoder's content (the SHA-256 of every file in its folder: weights,
config, tokenizer), the texts (their SHA-256, in order), the max length, the pooling and the layer
(as an index from 0, so ``-1`` and the last block's number share an entry). Any change to any of
them is a different name, so a stale entry is never read; a ``.json`` beside it says what it holds.
Entries are written atomically (beside the target, then renamed): a crash leaves no half entry.
An entry that cannot be read or has the wrong shape is a miss and is written again.

Location: ``$PROBE_CACHE`` if set, else ``~/.cache/probe``; entries go to ``embeddings/`` in it.
Delete the folder to reclaim the space; ``--no-cache`` neither reads nor writes it.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import os
from collections.abc import Iterator, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from numpy.lib.format import open_memmap
from probe_runtime.atomic import atomic_path

from .encoder import Encoder

__all__ = ["CACHE_ENV", "CacheKey", "EmbeddingCache", "default_cache_dir", "encoder_sha256", "texts_sha256"]

log = logging.getLogger(__name__)
CACHE_ENV = "PROBE_CACHE"
FORMAT = 1  # bump when what an entry holds changes meaning
_HASHED_SUFFIXES = (".safetensors", ".bin", ".json", ".txt", ".model", ".pt")
_encoder_hashes: dict[tuple[str, int, int], str] = {}  # (file, size, mtime_ns) -> sha256: hash a file once per run


def default_cache_dir() -> Path:
    """``$PROBE_CACHE``, else ``~/.cache/probe``."""
    env = os.environ.get(CACHE_ENV)
    return Path(env) if env else Path.home() / ".cache" / "probe"


def _file_sha256(path: Path) -> str:
    stat = path.stat()
    memo = (str(path.resolve()), stat.st_size, stat.st_mtime_ns)
    if memo not in _encoder_hashes:
        digest = hashlib.sha256()
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                digest.update(block)
        _encoder_hashes[memo] = digest.hexdigest()
    return _encoder_hashes[memo]


def encoder_sha256(encoder: Encoder) -> str | None:
    """The SHA-256 over the encoder folder's files (name and content), or None for an encoder not on disk."""
    folder = Path(encoder.path)
    if not folder.is_dir():
        return None
    digest = hashlib.sha256()
    for path in sorted(folder.iterdir()):
        if path.is_file() and path.suffix in _HASHED_SUFFIXES:
            digest.update(f"{path.name}\0{_file_sha256(path)}\n".encode())
    return digest.hexdigest()


def texts_sha256(texts: Sequence[str]) -> str:
    """The SHA-256 of the texts in order (each length-prefixed, so no two lists collide by concatenation)."""
    digest = hashlib.sha256()
    for text in texts:
        data = text.encode("utf-8", "surrogatepass")
        digest.update(f"{len(data)}:".encode())
        digest.update(data)
    return digest.hexdigest()


@dataclass(frozen=True)
class CacheKey:
    """Everything an entry's numbers depend on."""

    encoder_sha256: str
    texts_sha256: str
    n_texts: int
    hidden: int
    max_length: int
    pooling: str
    layer: int  # hidden-state index, 0 (embeddings) .. blocks
    format: int = FORMAT

    @property
    def name(self) -> str:
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:32]


class EmbeddingCache:
    """Entries under ``root/embeddings``; ``hits``/``misses`` count lookups (what a user or test can check)."""

    def __init__(self, root: str | Path | None = None):
        self.root = Path(root) if root is not None else default_cache_dir()
        self.hits = 0
        self.misses = 0

    def path(self, key: CacheKey) -> Path:
        return self.root / "embeddings" / f"{key.name}.npy"

    def load(self, key: CacheKey) -> np.ndarray | None:
        """The entry, memory-mapped read-only, or None (absent, unreadable or the wrong shape: a miss)."""
        path = self.path(key)
        try:
            array = np.load(path, mmap_mode="r", allow_pickle=False)
        except FileNotFoundError:
            array = None
        except (OSError, ValueError) as exc:
            log.warning("embedding cache: ignoring unreadable %s (%s)", path, exc)
            array = None
        if array is not None and (array.shape != (key.n_texts, key.hidden) or array.dtype != np.float32):
            log.warning(
                "embedding cache: ignoring %s: shape %s, expected %s", path, array.shape, (key.n_texts, key.hidden)
            )
            array = None
        if array is None:
            self.misses += 1
        else:
            self.hits += 1
        return array

    @contextlib.contextmanager
    def writer(self, key: CacheKey) -> Iterator[np.ndarray]:
        """A writable ``[n_texts, hidden]`` array that becomes the entry (atomically) when the block succeeds."""
        target = self.path(key)
        with atomic_path(target) as tmp:
            array = open_memmap(tmp, mode="w+", dtype=np.float32, shape=(key.n_texts, key.hidden))
            yield array
            array.flush()
            del array
            with atomic_path(target.with_suffix(".json")) as described:
                described.write_text(json.dumps(asdict(key), indent=2) + "\n", encoding="utf-8")

    def store(self, key: CacheKey, vectors: np.ndarray) -> None:
        with self.writer(key) as out:
            out[:] = vectors
