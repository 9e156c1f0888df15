"""What a `Classifier` runs on: its sessions, its worker threads, its tokenizers, and how a forked child renews them.

`Sessions` holds the one-thread onnxruntime session, a second one with ``threads`` intra-op threads for a
call that makes one big batch, and the thread pool that runs a call's batches concurrently, one onnxruntime
thread each. `TextSide` holds the tokenizer and the long-text windower. Both are built lazily, behind a lock,
so one classifier serves many threads; and both are forgotten in a forked child (`probe_runtime.forks`) and
rebuilt there on first use, the graph from the file re-read and re-hashed (`GraphFile`).
"""

from __future__ import annotations

import itertools
import threading
from collections import deque
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import onnxruntime as ort
from tokenizers import Tokenizer

from .artifact import Manifest
from .batching import Batch, TextEncoder
from .errors import ArtifactError
from .forks import forget_in_forked_children, keep_forever
from .integrity import graph_sha256
from .loader import new_session, read_model_bytes
from .long_text import LongText, Windower

if TYPE_CHECKING:  # concurrent.futures costs ~4 ms at import; a single-text app never needs it
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = ["SPLIT_BATCH_TOKENS", "GraphFile", "Sessions", "TextSide"]

# A call that makes a single batch of at least this many padded tokens runs on a second session with
# `threads` intra-op threads: there is nothing to run beside it, and its matrices are big enough to
# split. Measured (benchmarks/runtime_levers.py, MiniLM int8, 2 cores, p50, one thread vs two):
# 1x16 tokens 1.13 vs 1.07 ms, 1x64 3.35 vs 2.72 ms, 8x16 5.81 vs 4.22 ms, 1x256 16.6 vs 10.4 ms.
SPLIT_BATCH_TOKENS = 64


class GraphFile:
    """Where a classifier re-reads its graph when it needs another session (multi-threaded, or after a fork).

    Every re-read is hashed and compared with the graph that was loaded: a file replaced on disk since
    is refused, never silently mixed with the first one.
    """

    def __init__(self, path: Path, sha256: str | None) -> None:
        self.path, self.sha256 = path, sha256

    def read(self) -> bytes:
        data = read_model_bytes(self.path)
        actual = graph_sha256(data)
        if self.sha256 is None:
            self.sha256 = actual
        elif actual != self.sha256:
            raise ArtifactError(
                f"{self.path} changed on disk since it was loaded (its graph hash differs); "
                "load the classifier again to use the new file"
            )
        return data


class Sessions:
    """The onnxruntime sessions and worker pool of one classifier (thread-safe; renewed in a forked child)."""

    def __init__(
        self,
        session: ort.InferenceSession,
        graph: GraphFile,
        threads: int,
        providers: tuple[str, ...],
        spinning: bool,
    ) -> None:
        self.graph, self.threads, self.providers, self.spinning = graph, threads, providers, spinning
        self.source = str(graph.path)
        self._lock = threading.Lock()
        self._session: ort.InferenceSession | None = session
        self.wide: ort.InferenceSession | None = None  # created on first need, see SPLIT_BATCH_TOKENS
        self.pool: ThreadPoolExecutor | None = None
        forget_in_forked_children(self)

    @property
    def session(self) -> ort.InferenceSession:
        """The one-thread session (rebuilt from the verified file on first use in a forked child)."""
        session = self._session
        if session is None:
            with self._lock:
                if self._session is None:
                    self._session = new_session(
                        self.graph.read(), self.source, providers=self.providers, spinning=self.spinning
                    )
                session = self._session
        return session

    def leave_parent_state(self) -> None:
        keep_forever((self._session, self.wide, self.pool, self._lock))
        self._session = self.wide = self.pool = None
        self._lock = threading.Lock()

    def session_for(self, batch: Batch) -> ort.InferenceSession:
        """The session for a batch that runs alone: multi-threaded when it is big enough to gain.

        With spinning threads every lone batch is: a pool whose threads busy-wait instead of sleeping hands
        out the matrices of even one short text fast enough to gain (benchmarks/spinning.py: SST-2 phrases
        one at a time on an idle AMD EPYC); without, the hand-off costs more than it saves below
        `SPLIT_BATCH_TOKENS`.
        """
        threshold = 1 if self.spinning else SPLIT_BATCH_TOKENS
        if self.threads == 1 or next(iter(batch.feeds.values())).size < threshold:
            return self.session
        with self._lock:
            if self.wide is None:
                # From the file re-read and re-hashed: the same graph the one-thread session runs.
                self.wide = new_session(self.graph.read(), self.source, self.threads, self.providers, self.spinning)
            return self.wide

    def executed(self, batches: Iterable[Batch], output: str) -> Iterator[tuple[Batch, np.ndarray]]:
        """Each batch with its graph output, ``self.threads`` batches in flight (padding stays lazy)."""
        pending = iter(batches)
        first, second = next(pending, None), next(pending, None)
        if first is None:
            return
        if second is None:  # one batch (e.g. a single text): no hand-off; split its matrices if big enough
            yield first, self.session_for(first).run([output], first.feeds)[0]
            return
        session = self.session
        if self.threads == 1:
            for batch in itertools.chain((first, second), pending):
                yield batch, session.run([output], batch.feeds)[0]
            return
        pool = self._worker_pool()
        in_flight: deque[tuple[Batch, Future[list[np.ndarray]]]] = deque()
        for batch in itertools.chain((first, second), pending):
            in_flight.append((batch, pool.submit(session.run, [output], batch.feeds)))
            if len(in_flight) > self.threads:
                done, future = in_flight.popleft()
                yield done, future.result()[0]
        while in_flight:
            done, future = in_flight.popleft()
            yield done, future.result()[0]

    def _worker_pool(self) -> ThreadPoolExecutor:
        with self._lock:  # callers may share one Classifier across threads
            if self.pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self.pool = ThreadPoolExecutor(self.threads, thread_name_prefix="probe-runtime")
            return self.pool


class TextSide:
    """The tokenizer (`TextEncoder`) and, under the window policy, the `Windower` (renewed in a forked child)."""

    def __init__(
        self,
        tokenizer_json: str,
        manifest: Manifest,
        declared: Sequence[str],
        long_text: LongText,
        tokenizer: Tokenizer | None = None,
    ) -> None:
        self._tokenizer_json, self._manifest, self._declared = tokenizer_json, manifest, list(declared)
        self.long_text = long_text
        self._lock = threading.Lock()
        self.encoder: TextEncoder | None = None
        self.windower: Windower | None = None
        self._build(tokenizer)
        forget_in_forked_children(self)

    def _build(self, tokenizer: Tokenizer | None = None) -> None:
        manifest = self._manifest
        encoder = TextEncoder(
            tokenizer or self._tokenizer_json, manifest.max_length, manifest.pad_token_id, self._declared
        )
        windower = (
            Windower(encoder.tokenizer, manifest.max_length, manifest.labels, self.long_text)
            if self.long_text.policy == "window"
            else None
        )
        self.encoder, self.windower = encoder, windower

    def get(self) -> tuple[TextEncoder, Windower | None]:
        """The encoder and windower, built afresh on first use in a forked child."""
        encoder, windower = self.encoder, self.windower
        if encoder is None:
            with self._lock:
                if self.encoder is None:
                    self._build()
                encoder, windower = self.encoder, self.windower
        assert encoder is not None
        return encoder, windower

    def leave_parent_state(self) -> None:
        keep_forever((self.encoder, self.windower, self._lock))
        self.encoder = self.windower = None
        self._lock = threading.Lock()
