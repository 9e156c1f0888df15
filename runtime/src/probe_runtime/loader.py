"""Open an artifact: read its bytes once, check them, and only then hand those same bytes to onnxruntime.

Reading once and building the session from the bytes that were hashed leaves no gap between check
and use: a file swapped or rewritten after the check cannot be the one that runs. The checks, in
order (each refusal is one ``ArtifactError`` naming the file, what is wrong, and the fix):

1. well-formed ONNX with probe metadata of this schema version (``integrity``, ``artifact``);
2. the manifest and tokenizer match the SHA-256 hashes recorded at export;
3. every manifest field has the right type and range;
4. the graph matches its recorded SHA-256, and no tensor's data lives in another file;
5. the tokenizer is within bounds and loads (``tokenizer_guard``);
6. the installed onnxruntime is recent enough for the graph's opset and IR version (``compat``);
7. onnxruntime accepts the graph, and the graph agrees with the manifest: its inputs are the ones the
   runtime feeds, its ``probabilities`` output has one column per label, and ``pad_token_id`` is in
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

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from .artifact import (
    INPUT_NAMES,
    KEY_GRAPH_SHA256,
    KEY_MANIFEST_SHA256,
    KEY_TOKENIZER_SHA256,
    OUTPUT_NAME,
    Manifest,
    check_hash,
    manifest_from_metadata,
)
from .compat import check_onnxruntime
from .errors import ArtifactError, UsageError
from .integrity import MalformedModel, external_tensors, graph_sha256, metadata, opsets, seal
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

# onnxruntime would re-fuse Add + LayerNormalization into SkipLayerNormalization, whose CPU kernel
# measured ~5x slower than the two plain ops (ORT 1.32); graphs exported with the skip fusion keep it.
DISABLED_FUSIONS = ["SkipLayerNormFusion"]
# onnxruntime execution providers, in order of preference (`Classifier.load(providers=...)`, `--provider`).
DEFAULT_PROVIDERS = ("CPUExecutionProvider",)
# Whether onnxruntime's pool threads busy-wait for work instead of sleeping (`Classifier.load(spinning=...)`,
# `--spin/--no-spin`). Off: measured with benchmarks/spinning.py (MiniLM per-token int8, AMD EPYC, 2 cores),
# spinning (which also sends every lone text to the multi-thread session) cut the back-to-back single-text p50
# by a quarter on the idle machine but kept ~0.9 cores busy at 20 requests/s (0.07 off), and on shared cores
# it was slower: results/spinning.md, docs/benchmarks.md. onnxruntime's own default is on.
DEFAULT_SPINNING = False


@dataclass(frozen=True)
class Artifact:
    """A checked artifact: its manifest, tokenizer, a one-thread session, and the verified hashes."""

    source: str
    manifest: Manifest
    tokenizer_json: str
    tokenizer: Tokenizer
    session: ort.InferenceSession
    sha256: dict[str, str]  # graph, tokenizer, manifest


def session_options(threads: int = 1, spinning: bool = DEFAULT_SPINNING) -> ort.SessionOptions:
    """The runtime's onnxruntime settings; benchmarks start from these so they measure what users run.

    ``spinning``: onnxruntime's ``session.intra_op.allow_spinning`` and ``session.inter_op.allow_spinning``.
    A spinning pool thread keeps a core busy while it waits for the next piece of work; it only exists
    in a session of two or more threads (a one-thread session runs on the caller's thread).
    """
    options = ort.SessionOptions()
    flag = "1" if spinning else "0"
    options.add_session_config_entry("session.intra_op.allow_spinning", flag)
    options.add_session_config_entry("session.inter_op.allow_spinning", flag)
    # One thread per run by default: we parallelize across batches instead (see Classifier). Measured
    # with benchmarks/runtime_levers.py (MiniLM int8, 2 cores): two batches at once on one thread each
    # did 1.30x (SST-2 phrases) and 1.32x (tweets) the texts/s of one batch at a time on two threads.
    options.intra_op_num_threads = threads
    options.inter_op_num_threads = 1
    options.log_severity_level = 3
    # Masked attention scores underflow exp() into denormals, which x86 computes ~6x slower
    # (benchmarks/kernels.py: Softmax over padded rows, 166 vs 29 us); flushing them is numerically invisible.
    # Length-sorted batches rarely pad, so the whole graph gains little (runtime_levers.py).
    # onnxruntime honours this from the first session a process creates (for that thread, and the
    # threads it starts later, e.g. our workers): an app that made another session first keeps denormals.
    options.add_session_config_entry("session.set_denormal_as_zero", "1")
    return options


def read_model_bytes(path: str | os.PathLike[str]) -> bytes:
    """The whole file, read once (``ArtifactError`` if it is missing or unreadable)."""
    path = Path(path)
    if not path.is_file():
        raise ArtifactError(f"model file not found: {path}")
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ArtifactError(f"cannot read the model file {path}: {exc.strerror or exc}") from None


def _unreadable(source: str, detail: str) -> ArtifactError:
    return ArtifactError(
        f"{source} is not a readable ONNX model (corrupted, truncated, or not ONNX at all): {detail[:200]}"
    )


def refuse_external_data(data: bytes, source: str) -> None:
    """The runtime reads nothing outside the artifact: tensors stored in other files are refused."""
    try:
        outside = external_tensors(data)
    except MalformedModel as exc:
        raise _unreadable(source, str(exc)) from None
    if outside:
        shown = ", ".join(outside[:3]) + (f" and {len(outside) - 3} more" if len(outside) > 3 else "")
        raise ArtifactError(
            f"{source} keeps {len(outside)} tensor(s) in external data files ({shown}); a probe artifact is one "
            "self-contained file and the runtime reads nothing outside it. Re-export the model with `probe export`."
        )


def new_session(
    data: bytes,
    source: str,
    threads: int = 1,
    providers: Sequence[str] = DEFAULT_PROVIDERS,
    spinning: bool = DEFAULT_SPINNING,
) -> ort.InferenceSession:
    """An onnxruntime session built from bytes already checked (never from the path: see the module doc)."""
    try:
        return ort.InferenceSession(
            data,
            sess_options=session_options(threads, spinning),
            providers=list(providers),
            disabled_optimizers=DISABLED_FUSIONS,
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise _unreadable(source, str(exc).splitlines()[0] if str(exc) else type(exc).__name__) from None


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


def _output_width(session: ort.InferenceSession, declared: list[str], manifest: Manifest) -> int | None:
    """The width of the ``probabilities`` output, which must be ``[texts, labels]`` whatever the input's size.

    A declared shape proves nothing by itself (a symbolic width may be the sequence length, and a fixed one
    is only a claim), so the graph is also run on two inputs of different sizes, 2 texts of 2 tokens and 1
    text of 3: the rows must follow the texts and the width must stay put. A width that followed the tokens
    matched a two-label manifest on a two-token probe, loaded, and then failed (or answered from the wrong
    columns) on real texts.
    """
    output = next(o for o in session.get_outputs() if o.name == OUTPUT_NAME)
    shape = list(output.shape)
    if len(shape) != 2:
        raise ArtifactError(f"its graph's {OUTPUT_NAME!r} output is declared {shape}, not [texts, labels]")
    lengths = {i.shape[1] for i in session.get_inputs() if len(i.shape) > 1 and isinstance(i.shape[1], str)}
    if isinstance(shape[1], str) and shape[1] in lengths:
        raise ArtifactError(
            f"its graph's {OUTPUT_NAME!r} output is declared {shape}: one column per token, not one per label"
        )
    widths = []
    for texts, tokens in ((2, 2), (1, min(3, manifest.max_length))):
        feeds = {name: np.ones((texts, tokens), dtype=np.int64) for name in declared}
        if "token_type_ids" in feeds:
            feeds["token_type_ids"][:] = 0
        try:
            result = session.run([OUTPUT_NAME], feeds)[0]
        except Exception as exc:
            raise ArtifactError(
                f"its graph fails on a {tokens}-token input ({str(exc).splitlines()[0][:160]})"
            ) from None
        if result.ndim != 2 or result.shape[0] != texts:
            plural = "s" if texts > 1 else ""
            raise ArtifactError(
                f"its graph's {OUTPUT_NAME!r} output is {list(result.shape)} for {texts} text{plural} of {tokens} "
                "tokens, not one row per text"
            )
        widths.append(int(result.shape[1]))
    if len(set(widths)) > 1:
        raise ArtifactError(
            f"its graph's {OUTPUT_NAME!r} output is {widths[0]} wide for 2-token texts and {widths[1]} for 3-token "
            "ones: its width follows the input, not the labels"
        )
    return widths[0]


def check_graph(manifest: Manifest, session: ort.InferenceSession, tokenizer: Tokenizer) -> None:
    """The graph and the manifest describe the same model (``ArtifactError`` without the file name)."""
    declared = [i.name for i in session.get_inputs()]
    unknown = [n for n in declared if n not in INPUT_NAMES]
    if unknown:
        raise ArtifactError(f"its graph declares inputs this runtime cannot feed: {unknown}")
    if set(declared) != set(manifest.input_names):
        raise ArtifactError(
            f"manifest field 'input_names' lists {manifest.input_names} but the graph declares {declared}"
        )
    if OUTPUT_NAME not in {o.name for o in session.get_outputs()}:
        raise ArtifactError(f"its graph has no {OUTPUT_NAME!r} output")
    width = _output_width(session, declared, manifest)
    if width != len(manifest.labels):
        raise ArtifactError(
            f"manifest field 'labels' names {len(manifest.labels)} classes but the graph's {OUTPUT_NAME!r} output "
            f"has {width} columns: the manifest does not belong to this graph"
        )
    vocabulary = tokenizer.get_vocab_size(with_added_tokens=True)
    if manifest.pad_token_id >= vocabulary:
        raise ArtifactError(
            f"manifest field 'pad_token_id' is {manifest.pad_token_id}, outside the tokenizer's "
            f"{vocabulary}-token vocabulary"
        )


def check_artifact(
    data: bytes, source: str, providers: Sequence[str] = DEFAULT_PROVIDERS, spinning: bool = DEFAULT_SPINNING
) -> Artifact:
    """Every check of the module doc on ``data``; the session is built from ``data`` itself."""
    try:
        props = metadata(data)
    except MalformedModel as exc:
        raise _unreadable(source, str(exc)) from None
    manifest, tokenizer_json = manifest_from_metadata(props, source)
    graph = graph_sha256(data)
    check_hash(source, "graph", props[KEY_GRAPH_SHA256], graph)
    refuse_external_data(data, source)
    try:
        tokenizer = load_tokenizer(tokenizer_json)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}") from None
    check_onnxruntime(*opsets(data), source, manifest.requires_onnxruntime)
    session = new_session(data, source, providers=providers, spinning=spinning)
    try:
        check_graph(manifest, session, tokenizer)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}; re-export the model with `probe export`.") from None
    hashes = {"graph": graph, "tokenizer": props[KEY_TOKENIZER_SHA256], "manifest": props[KEY_MANIFEST_SHA256]}
    return Artifact(source, manifest, tokenizer_json, tokenizer, session, hashes)


def open_artifact(
    path: str | os.PathLike[str], providers: Sequence[str] = DEFAULT_PROVIDERS, spinning: bool = DEFAULT_SPINNING
) -> Artifact:
    """Read ``path`` once and check it (see the module doc); its session runs on ``providers``."""
    return check_artifact(read_model_bytes(path), str(path), providers, spinning)


def seal_artifact(graph: bytes, manifest: Manifest, tokenizer_json: str, source: str) -> bytes:
    """The exporter's side: ``graph`` with the manifest, tokenizer and their hashes, checked like a load.

    The graph hash is computed on ``graph``'s own fields, which ``integrity.seal`` copies byte for byte.
    """
    props = manifest.to_metadata(tokenizer_json)
    props[KEY_GRAPH_SHA256] = graph_sha256(graph)
    data = seal(graph, props)
    check_artifact(data, source)
    return data
