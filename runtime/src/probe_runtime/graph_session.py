"""onnxruntime's side of opening an artifact: a session built from bytes already checked, and its graph
checked against the manifest.

`probe_runtime.loader` checks a file's bytes without onnxruntime (hashes, manifest, tokenizer, versions) and
hands them here last: only bytes that passed reach onnxruntime, and the session is built from those very bytes,
never from the path. `session_options` are the runtime's onnxruntime settings (benchmarks start from them).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from .artifact import INPUT_NAMES, OUTPUT_NAME, Manifest
from .errors import ArtifactError
from .integrity import UNREADABLE

__all__ = [
    "DEFAULT_PROVIDERS",
    "DEFAULT_SPINNING",
    "DISABLED_FUSIONS",
    "check_graph",
    "checked_session",
    "new_session",
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
        detail = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ArtifactError(UNREADABLE.format(source=source, detail=detail[:200])) from None


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


def checked_session(
    data: bytes,
    source: str,
    manifest: Manifest,
    tokenizer: Tokenizer,
    providers: Sequence[str] = DEFAULT_PROVIDERS,
    spinning: bool = DEFAULT_SPINNING,
) -> ort.InferenceSession:
    """`new_session` on ``data``, refused unless its graph agrees with ``manifest`` and ``tokenizer``."""
    session = new_session(data, source, providers=providers, spinning=spinning)
    try:
        check_graph(manifest, session, tokenizer)
    except ArtifactError as exc:
        raise ArtifactError(f"{source}: {exc}; re-export the model with `probe export`.") from None
    return session
