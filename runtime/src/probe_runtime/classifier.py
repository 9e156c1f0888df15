"""Classify texts with a probe artifact: onnxruntime + tokenizers + numpy, nothing heavier."""

from __future__ import annotations

import itertools
import os
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, overload

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding

from .artifact import EMBEDDINGS_NAME, OUTPUT_NAME, Label, Manifest, manifest_from_metadata
from .batching import Batch, TextEncoder
from .errors import ArtifactError, InputError
from .long_text import LongText, Windower, resolve_long_text

if TYPE_CHECKING:  # concurrent.futures costs ~4 ms at import; a single-text app never needs it
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["Classifier", "Prediction"]

DEFAULT_BATCH_SIZE = 64
# Padded tokens per batch. Small on purpose: a batch's activations then stay in the per-core L2 cache.
# Measured with benchmarks/ (MiniLM int8, 1 thread): 256 beat 8192 by 1.4x on SST-2 phrases and on
# tweets, and peak RSS fell from 220-420 MB to 115-130 MB; 512 was within a few percent of 256.
DEFAULT_MAX_TOKENS = 256
# A call that makes a single batch of at least this many padded tokens runs on a second session with
# `threads` intra-op threads: there is nothing to run beside it, and its matrices are big enough to
# split. Measured (benchmarks/runtime_levers.py, MiniLM int8, 2 cores, p50, one thread vs two):
# 1x16 tokens 1.13 vs 1.07 ms, 1x64 3.35 vs 2.72 ms, 8x16 5.81 vs 4.22 ms, 1x256 16.6 vs 10.4 ms.
_SPLIT_BATCH_TOKENS = 64
# onnxruntime would re-fuse Add + LayerNormalization into SkipLayerNormalization, whose CPU kernel
# measured ~5x slower than the two plain ops (ORT 1.32); graphs exported with the skip fusion keep it.
DISABLED_FUSIONS = ["SkipLayerNormFusion"]


@dataclass(frozen=True)
class Prediction:
    """One text's result: the winning label, its probability, and every class's probability."""

    label: Label
    score: float
    scores: dict[Label, float]


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count, under taskset/cgroups)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def session_options(threads: int = 1) -> ort.SessionOptions:
    """The runtime's onnxruntime settings; benchmarks start from these so they measure what users run."""
    options = ort.SessionOptions()
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


def _session(path: Path, threads: int = 1) -> ort.InferenceSession:
    options = session_options(threads)
    try:
        return ort.InferenceSession(
            str(path), sess_options=options, providers=["CPUExecutionProvider"], disabled_optimizers=DISABLED_FUSIONS
        )
    except Exception as exc:  # onnxruntime raises its own untyped errors for unreadable graphs
        raise ArtifactError(
            f"{path} is not a readable ONNX model (corrupted, truncated, or not ONNX at all): "
            f"{str(exc).splitlines()[0][:200]}"
        ) from exc


class Classifier:
    """A loaded artifact. Thread-safe for concurrent ``predict`` calls (onnxruntime sessions are).

    Batches of one call run concurrently on ``threads`` worker threads, one onnxruntime thread each;
    a call that makes one big batch instead splits its matrices over ``threads`` onnxruntime threads.
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        manifest: Manifest,
        tokenizer_json: str,
        source: str,
        long_text: LongText | None = None,
        threads: int | None = None,
    ):
        self.session = session
        self.threads = threads or available_cores()
        self._pool: ThreadPoolExecutor | None = None
        self._wide_session: ort.InferenceSession | None = None  # created on first need, see _SPLIT_BATCH_TOKENS
        self._pool_lock = threading.Lock()
        self._owner_pid = os.getpid()
        self.manifest = manifest
        self.source = source
        declared = [i.name for i in session.get_inputs()]
        missing = [n for n in declared if n not in ("input_ids", "attention_mask", "token_type_ids")]
        if missing:
            raise ArtifactError(f"{source} declares graph inputs this runtime cannot feed: {missing}")
        self.encoder = TextEncoder(tokenizer_json, manifest.max_length, manifest.pad_token_id, declared)
        self.long_text = long_text or resolve_long_text(manifest)
        self._windower = (
            Windower(self.encoder.tokenizer, manifest.max_length, manifest.labels, self.long_text)
            if self.long_text.policy == "window"
            else None
        )

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        threads: int | None = None,
        long_text: str | None = None,
        window_stride: int | None = None,
        window_aggregate: str | None = None,
    ) -> Classifier:
        """Open an artifact. ``threads``: how many batches run at once, one core each (default: all cores).

        ``long_text`` (``truncate``/``window``), ``window_stride`` (tokens of overlap) and
        ``window_aggregate`` (``max``/``mean``/``auto``) override the artifact's long-text policy.
        """
        path = Path(path)
        if not path.is_file():
            raise ArtifactError(f"model file not found: {path}")
        session = _session(path)
        metadata = dict(session.get_modelmeta().custom_metadata_map)
        manifest, tokenizer_json = manifest_from_metadata(metadata, str(path))
        settings = resolve_long_text(manifest, long_text, window_stride, window_aggregate)
        return cls(session, manifest, tokenizer_json, str(path), settings, threads)

    @classmethod
    def from_graph(
        cls, path: str | os.PathLike[str], manifest: Manifest, tokenizer_json: str, threads: int | None = None
    ) -> Classifier:
        """Run a graph that carries no manifest yet (the exporter verifies candidates this way)."""
        return cls(_session(Path(path)), manifest, tokenizer_json, str(path), threads=threads)

    @property
    def labels(self) -> list[Label]:
        return list(self.manifest.labels)

    def predict_proba(
        self,
        texts: Sequence[str] | str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> np.ndarray:
        """Class probabilities ``[n_texts, n_labels]`` (``[n_labels]`` for a single string)."""
        if isinstance(texts, str):
            return self.predict_proba([texts], batch_size, max_tokens)[0]
        texts = _checked(texts)
        if not texts:
            return np.empty((0, len(self.manifest.labels)), dtype=np.float32)
        if self._windower is not None:
            return self._windower.predict_proba(texts, lambda windows: self._run(windows, batch_size, max_tokens))
        return self._run(self.encoder.encode(texts), batch_size, max_tokens)

    def _run(
        self, encodings: Sequence[Encoding], batch_size: int, max_tokens: int, output: str = OUTPUT_NAME
    ) -> np.ndarray:
        """One graph output (probabilities by default) for already-tokenized inputs, in their order."""
        out: np.ndarray | None = None
        for batch, rows in self._executed(self.encoder.batches(encodings, batch_size, max_tokens), output):
            if out is None:
                out = np.empty((len(encodings), rows.shape[1]), dtype=np.float32)
            out[batch.positions] = rows
        return out if out is not None else np.empty((0, len(self.manifest.labels)), dtype=np.float32)

    def _executed(self, batches: Iterable[Batch], output: str) -> Iterator[tuple[Batch, np.ndarray]]:
        """Each batch with its graph output, ``self.threads`` batches in flight (padding stays lazy)."""
        pending = iter(batches)
        first, second = next(pending, None), next(pending, None)
        if first is None:
            return
        if second is None:  # one batch (e.g. a single text): no hand-off; split its matrices if big enough
            yield first, self._session_for(first).run([output], first.feeds)[0]
            return
        if self.threads == 1:
            for batch in itertools.chain((first, second), pending):
                yield batch, self.session.run([output], batch.feeds)[0]
            return
        with self._pool_lock:  # callers may share one Classifier across threads
            self._forget_threads_of_a_parent_process()
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="probe-runtime")
        in_flight: deque[tuple[Batch, Future[list[np.ndarray]]]] = deque()
        for batch in itertools.chain((first, second), pending):
            in_flight.append((batch, self._pool.submit(self.session.run, [output], batch.feeds)))
            if len(in_flight) > self.threads:
                done, future = in_flight.popleft()
                yield done, future.result()[0]
        while in_flight:
            done, future = in_flight.popleft()
            yield done, future.result()[0]

    def _session_for(self, batch: Batch) -> ort.InferenceSession:
        """The session for a batch that runs alone: multi-threaded when it is big enough to gain."""
        if self.threads == 1 or next(iter(batch.feeds.values())).size < _SPLIT_BATCH_TOKENS:
            return self.session
        with self._pool_lock:
            self._forget_threads_of_a_parent_process()
            if self._wide_session is None:
                self._wide_session = _session(Path(self.source), self.threads)
        return self._wide_session

    def _forget_threads_of_a_parent_process(self) -> None:
        """After a fork (gunicorn --preload, multiprocessing), the parent's worker threads and the
        multi-threaded session's thread pool do not exist in the child: waiting on them would hang."""
        if self._owner_pid != os.getpid():
            self._owner_pid, self._pool, self._wide_session = os.getpid(), None, None

    def embed(
        self, texts: Sequence[str], batch_size: int = DEFAULT_BATCH_SIZE, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> np.ndarray:
        """The pooled vectors the head reads, ``[n_texts, hidden]`` (texts truncated at max length)."""
        if EMBEDDINGS_NAME not in {o.name for o in self.session.get_outputs()}:
            raise ArtifactError(f"{self.source} does not expose embeddings; re-export it with a newer probe")
        texts = _checked(texts)
        if not texts:
            return np.empty((0, 0), dtype=np.float32)
        return self._run(self.encoder.encode(texts), batch_size, max_tokens, EMBEDDINGS_NAME)

    @overload
    def predict(self, texts: str) -> Label: ...
    @overload
    def predict(self, texts: Sequence[str]) -> list[Label]: ...
    def predict(self, texts: Sequence[str] | str) -> list[Label] | Label:
        """The most probable label per text (one label for a single string)."""
        proba = self.predict_proba(texts)
        if isinstance(texts, str):
            return self.manifest.labels[int(proba.argmax())]
        return [self.manifest.labels[i] for i in proba.argmax(axis=1)]

    @overload
    def classify(self, texts: str) -> Prediction: ...
    @overload
    def classify(self, texts: Sequence[str]) -> list[Prediction]: ...
    def classify(self, texts: Sequence[str] | str) -> list[Prediction] | Prediction:
        """Label, score and all class scores per text (one `Prediction` for a single string)."""
        if isinstance(texts, str):
            return self.classify([texts])[0]
        return [self._prediction(row) for row in self.predict_proba(texts)]

    __call__ = classify

    def _prediction(self, row: np.ndarray) -> Prediction:
        best = int(row.argmax())
        labels = self.manifest.labels
        return Prediction(labels[best], float(row[best]), {lab: float(p) for lab, p in zip(labels, row)})


def _checked(texts: Sequence[str]) -> list[str]:
    texts = list(texts)
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise InputError(f"text #{i} is {type(text).__name__}, not str")
    return texts
