"""Open an artifact: read its bytes once, check them, and only then hand those same bytes to onnxruntime.

Reading once and building the session from the bytes that were hashed leaves no gap between check
and use: a file swapped or rewritten after the check cannot be the one that runs. The checks, in
order (each refusal is one ``ArtifactError`` naming the file, what is wrong, and the fix):

1. well-formed ONNX with probe metadata of this schema version (``integrity`` reads every fact of the bytes
   once into a ``GraphFacts`` record, ``artifact`` checks the record against the contract);
2. the manifest and tokenizer match the SHA-256 hashes recorded at export;
3. every manifest field has the right type and range;
4. the graph matches its recorded SHA-256, and no tensor's data lives in another file;
5. the tokenizer is within bounds and loads (``tokenizer_guard``);
6. the installed onnxruntime is recent enough for the graph's opset and IR version (``compat``);
7. onnxruntime accepts the graph, and the graph agrees with the manifest (``graph_session``): its inputs are
   the ones the runtime feeds, its ``probabilities`` output has one column per label, and ``pad_token_id`` is in
   the tokenizer's vocabulary.

The exporter seals its file through ``seal_artifact``, which runs the same checks on the bytes it is
about to write: one implementation of the contract, so the exporter cannot ship what the runtime refuses.
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import onnxruntime as ort
from tokenizers import Tokenizer

from .artifact import KEY_GRAPH_SHA256, KEY_MANIFEST_SHA256, KEY_TOKENIZER_SHA256, Manifest, manifest_from_facts
from .compat import check_onnxruntime
from .errors import ArtifactError, UsageError
from .graph_session import (  # re-exported: the loader is where callers have always found them
    DEFAULT_PROVIDERS,
    DEFAULT_SPINNING,
    DISABLED_FUSIONS,
    check_graph,
    checked_session,
    new_session,
    session_options,
)
from .integrity import graph_facts, graph_sha256, seal
from .tokenizer_guard import load_tokenizer

__all__ = [
    "DEFAULT_PROVIDERS",
    "DEFAULT_SPINNING",
    "DISABLED_FUSIONS",
    "Artifact",
    "check_artifact",
    "check_graph",
    "check_providers",
    "check_spinning",
    "new_session",
    "open_artifact",
    "provider_names",
    "read_model_bytes",
    "seal_artifact",
    "session_options",
]


@dataclass(frozen=True)
class Artifact:
    """A checked artifact: its manifest, tokenizer, a one-thread session, and the verified hashes."""

    source: str
    manifest: Manifest
    tokenizer_json: str
    tokenizer: Tokenizer
    session: ort.InferenceSession
    sha256: dict[str, str]  # graph, tokenizer, manifest


def read_model_bytes(path: str | os.PathLike[str]) -> bytes:
    """The whole file, read once (``ArtifactError`` if it is missing or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file not found: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read the model file {path}: {exc.strerror or exc}") from None


def provider_names(providers: Any) -> tuple[str, ...]:
    """``providers`` as a tuple if it is a non-empty sequence of names (else ``UsageError``), whatever this
    onnxruntime has: what a `probe_runtime.load_options.LoadOptions` can check before the machine is known."""
    if isinstance(providers, str) or not isinstance(providers, Sequence) or not providers:
        raise UsageError(
            f"providers must be a non-empty list of execution provider names such as ['CPUExecutionProvider'], "
            f"not {providers!r}; available here: {', '.join(ort.get_available_providers())}"
        )
    return tuple(providers)


def check_providers(providers: Any) -> tuple[str, ...]:
    """The onnxruntime execution providers asked for, if this onnxruntime has them all (else ``UsageError``).

    onnxruntime itself only warns and falls back to the CPU for a provider it lacks; a user who asked
    for a GPU should hear at once that they do not get one, and which providers they could ask for.
    """
    names = provider_names(providers)
    available = ort.get_available_providers()
    for name in names:
        if name not in available:
            raise UsageError(
                f"execution provider {name!r} is not available in this onnxruntime; available: {', '.join(available)}"
            )
    return names


def check_spinning(spinning: Any) -> bool:
    """``spinning`` if it is a bool (else ``UsageError``): 1, "no" or None would read as a different choice."""
    if not isinstance(spinning, bool):
        raise UsageError(
            f"spinning must be True (pool threads busy-wait for work: lowest latency, burns CPU while idle) "
            f"or False (they sleep), not {spinning!r}"
        )
    return spinning


def check_artifact(
    data: bytes, source: str, providers: Sequence[str] = DEFAULT_PROVIDERS, spinning: bool = DEFAULT_SPINNING
) -> Artifact:
    """Every check of the module doc on ``data``; the session is built from ``data`` itself."""
    facts = graph_facts(data, source)
    manifest, tokenizer_json = manifest_from_facts(facts, source)
    try:
        tokenizer = load_tokenizer(tokenizer_json)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}") from None
    check_onnxruntime(facts.ir_version, facts.opsets, source, manifest.requires_onnxruntime)
    session = checked_session(data, source, manifest, tokenizer, providers, spinning)
    props = facts.metadata
    hashes = {"graph": facts.graph_sha256, "tokenizer": props[KEY_TOKENIZER_SHA256]}
    hashes["manifest"] = props[KEY_MANIFEST_SHA256]
    return Artifact(source, manifest, tokenizer_json, tokenizer, session, hashes)


def open_artifact(
    path: str | os.PathLike[str], providers: Sequence[str] = DEFAULT_PROVIDERS, spinning: bool = DEFAULT_SPINNING
) -> Artifact:
    """Read ``path`` once and check it (see the module doc); its session runs on ``providers``."""
    data = read_model_bytes(path)
    return check_artifact(data, str(path), providers, spinning)


def seal_artifact(graph: bytes, manifest: Manifest, tokenizer_json: str, source: str) -> bytes:
    """The exporter's side: ``graph`` with the manifest, tokenizer and their hashes, checked like a load.

    The graph hash is computed on ``graph``'s own fields, which ``integrity.seal`` copies byte for byte.
    """
    props = manifest.to_metadata(tokenizer_json)
    props[KEY_GRAPH_SHA256] = graph_sha256(graph)
    data = seal(graph, props)
    check_artifact(data, source)
    return data
