"""Dynamic batching: requests that arrive together run through the model together, off the event loop.

Inference threads (two by default) take jobs (one request's texts each) from a queue and run as many of
them at once as a token budget allows, by one `Classifier.predict_proba` (or `embed`) call on their texts; the
classifier then sorts them by length, pads per small batch and spreads the batches over its cores. A
short wait after an idle spell lets requests that arrive together share a batch; under load no wait is
needed (requests queue while the thread runs the previous batch) and none is taken. The wait is only for
requests known to be on their way (admitted, their body being read or checked: ``arriving``), so a lone
client never waits for company that is not coming.

The answers are the classifier's for the same texts: every row is the row `predict_proba` gives for that
text, whichever texts share its batch (exactly, for the batch-independent files `probe export` makes by
default: fp32 and ``int8-per-token``). Jobs whose client went away are taken out of the queue
(`Batcher.cancel`), so they cost no inference.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from enum import Enum

import numpy as np

from ..classifier import DEFAULT_MAX_TOKENS, Classifier
from .metrics import Metrics

__all__ = ["Batcher", "Job", "Kind", "run_max_tokens"]

# The smallest padded-token budget a run's batches are cut to (see `run_max_tokens`).
_MIN_RUN_TOKENS = 32


def run_max_tokens(tokens: int, threads: int) -> int:
    """The padded-token budget per batch for a run of ``tokens`` tokens on ``threads`` cores.

    The library puts up to 256 padded tokens in one batch; a run of a few coalesced short texts would then
    be ONE batch, its matrices split over the cores by a multi-threaded session, which measured 1.7x
    slower (MiniLM int8, 8 SST-2 phrases, 2 shared cores) than cutting the same texts into one batch per
    core, each on one core. So a run is cut into at least ``threads`` batches while each keeps 32+ tokens.
    """
    share = tokens // max(threads, 1)
    return max(_MIN_RUN_TOKENS, min(DEFAULT_MAX_TOKENS, share))


log = logging.getLogger("probe_runtime.serve")


class Kind(str, Enum):
    """What a job asks of the model: one batch computes one kind for all its texts."""

    PROBA = "proba"  # class probabilities (`/predict`, `/`, `/classify`)
    EMBED = "embed"  # the pooled vectors the head reads (`/embed`)


@dataclass(eq=False)
class Job:
    """One request's texts, how many tokens they weigh, and where its answer goes (a future of the event loop)."""

    kind: Kind
    texts: Sequence[str]
    tokens: int
    future: asyncio.Future[np.ndarray]
    loop: asyncio.AbstractEventLoop = field(repr=False)


def _deliver(job: Job, value: np.ndarray | BaseException) -> None:
    """Hand a job's answer to its event loop (from the inference thread); a loop already closed gets nothing."""
    with contextlib.suppress(RuntimeError):
        job.loop.call_soon_threadsafe(_settle, job.future, value)


def _settle(future: asyncio.Future[np.ndarray], value: np.ndarray | BaseException) -> None:
    if future.done():  # cancelled meanwhile (the client went away)
        return
    if isinstance(value, BaseException):
        future.set_exception(value)
    else:
        future.set_result(value)


class Batcher:
    """The queue and the one thread that runs the model; `submit` from the event loop, `stop` to drain.

    ``max_batch_tokens``: the token budget of one run (a single job over it still runs, alone).
    ``max_wait_s``: how long the idle thread waits after a first job for others to join it, as long as
    ``arriving()`` (requests admitted but not yet submitted) says some are coming.
    ``runs``: model runs in flight at once, one thread each. One run ends on its last batch, on one core while
    the others idle, and the next run's texts are gathered and tokenized before any core works on them; a
    second run in flight fills those gaps (both share the classifier's cores).
    """

    def __init__(
        self,
        classifier: Classifier,
        metrics: Metrics,
        max_batch_tokens: int,
        max_wait_s: float,
        arriving: Callable[[], int] = lambda: 0,
        runs: int = 2,
    ) -> None:
        self.classifier = classifier
        self.arriving = arriving
        self.metrics = metrics
        self.max_batch_tokens = max_batch_tokens
        self.max_wait_s = max_wait_s
        self._queue: deque[Job] = deque()
        self._cond = threading.Condition()
        self._stopping = False
        self._threads = [
            threading.Thread(target=self._loop, name=f"probe-serve-inference-{i}", daemon=True) for i in range(runs)
        ]

    def start(self) -> None:
        for thread in self._threads:
            thread.start()

    @property
    def alive(self) -> bool:
        return all(thread.is_alive() for thread in self._threads) and not self._stopping

    @property
    def queued_requests(self) -> int:
        return len(self._queue)

    @property
    def queued_texts(self) -> int:
        with self._cond:
            return sum(len(job.texts) for job in self._queue)

    def submit(self, job: Job) -> None:
        """Queue a job; its future gets the rows (one per text, in order) or the exception the model raised."""
        with self._cond:
            if self._stopping:
                raise RuntimeError("the server is shutting down")
            self._queue.append(job)
            self._cond.notify()

    def cancel(self, job: Job) -> None:
        """Take a job out of the queue if it is still waiting (its client went away): it will not be run."""
        with self._cond, contextlib.suppress(ValueError):
            self._queue.remove(job)

    def stop(self, timeout: float | None = None) -> None:
        """Run what is queued, then end the threads (the server stops taking requests before calling this)."""
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        for thread in self._threads:
            thread.join(timeout)

    def _loop(self) -> None:
        while True:
            jobs = self._next_batch()
            if jobs is None:
                return
            self._run(jobs)

    def _next_batch(self) -> list[Job] | None:
        with self._cond:
            idle = not self._queue
            while not self._queue:
                if self._stopping:
                    return None
                self._cond.wait()
            if idle and self.max_wait_s > 0:  # a first request after a quiet spell: let those on their way join
                deadline = time.monotonic() + self.max_wait_s
                while (
                    not self._stopping
                    and self.arriving() > 0
                    and self._queue
                    and self._queued_tokens(self._queue[0].kind) < self.max_batch_tokens
                ):
                    remaining = deadline - time.monotonic()
                    if remaining <= 0:
                        break
                    self._cond.wait(remaining)
                if not self._queue:  # every waiting client went away
                    return []
            return self._take()

    def _queued_tokens(self, kind: Kind) -> int:
        return sum(job.tokens for job in self._queue if job.kind is kind)

    def _take(self) -> list[Job]:
        """The oldest job and the jobs of its kind after it, in order, while the token budget allows."""
        kind = self._queue[0].kind
        taken: list[Job] = []
        tokens = 0
        kept: deque[Job] = deque()
        while self._queue:
            job = self._queue.popleft()
            if job.kind is not kind:
                kept.append(job)
                continue
            if taken and tokens + job.tokens > self.max_batch_tokens:
                kept.append(job)
                kept.extend(self._queue)
                self._queue.clear()
                break
            taken.append(job)
            tokens += job.tokens
        self._queue = kept
        return taken

    def _run(self, jobs: list[Job]) -> None:
        if not jobs:
            return
        texts = [text for job in jobs for text in job.texts]
        kind = jobs[0].kind
        tokens = sum(job.tokens for job in jobs)
        max_tokens = run_max_tokens(tokens, self.classifier.threads)
        try:
            if kind is Kind.EMBED:
                rows = np.atleast_2d(self.classifier.embed(texts, max_tokens=max_tokens))
            else:
                rows = self.classifier.predict_proba(texts, max_tokens=max_tokens)
        except Exception as exc:  # the model failed: every job of the batch hears of it, the thread lives on
            log.exception("inference failed on a batch of %d texts", len(texts))
            for job in jobs:
                _deliver(job, exc)
            return
        self.metrics.batch(kind.value, len(texts), tokens)
        start = 0
        for job in jobs:
            stop = start + len(job.texts)
            _deliver(job, rows[start:stop])
            start = stop
