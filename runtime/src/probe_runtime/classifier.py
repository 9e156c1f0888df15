"""Classify texts with a probe artifact: onnxruntime + tokenizers + numpy, nothing heavier."""

from __future__ import annotations

import itertools
import os
import re
import threading
import weakref
from collections import deque
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, overload

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from .artifact import EMBEDDINGS_NAME, INPUT_NAMES, OUTPUT_NAME, Label, Manifest
from .batching import Batch, TextEncoder
from .canary import CanaryCheck, check_canaries, mismatch_error
from .decision import ABSTAIN, Decider, check_threshold, decider_for
from .errors import ArtifactError, InputError, UsageError
from .forks import end_child_without_inherited_destructors
from .integrity import graph_sha256
from .loader import (
    DEFAULT_PROVIDERS,
    DEFAULT_SPINNING,
    DISABLED_FUSIONS,
    check_providers,
    check_spinning,
    new_session,
    open_artifact,
    read_model_bytes,
    session_options,
)
from .long_text import Coverage, LongText, Windower, resolve_long_text

if TYPE_CHECKING:  # concurrent.futures costs ~4 ms at import; a single-text app never needs it
    from concurrent.futures import Future, ThreadPoolExecutor

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_PROVIDERS",
    "DISABLED_FUSIONS",
    "Classifier",
    "Prediction",
    "available_cores",
    "session_options",
]

DEFAULT_BATCH_SIZE = 64
# Texts `Classifier.classify_stream` takes from its iterable at a time: enough for length sorting to
# pay off and for every thread to have batches, few enough that memory stays flat (the CLI's window).
DEFAULT_CHUNK_SIZE = 4096
# Padded tokens per batch. Small on purpose: a batch's activations then stay in the per-core L2 cache.
# Measured with benchmarks/ (MiniLM int8, 1 thread): 256 beat 8192 by 1.4x on SST-2 phrases and on
# tweets, and peak RSS fell from 220-420 MB to 115-130 MB; 512 was within a few percent of 256.
DEFAULT_MAX_TOKENS = 256
# A call that makes a single batch of at least this many padded tokens runs on a second session with
# `threads` intra-op threads: there is nothing to run beside it, and its matrices are big enough to
# split. Measured (benchmarks/runtime_levers.py, MiniLM int8, 2 cores, p50, one thread vs two):
# 1x16 tokens 1.13 vs 1.07 ms, 1x64 3.35 vs 2.72 ms, 8x16 5.81 vs 4.22 ms, 1x256 16.6 vs 10.4 ms.
_SPLIT_BATCH_TOKENS = 64
_SURROGATE = re.compile("[\ud800-\udfff]")


@dataclass(frozen=True)
class Prediction:
    """One text's result: the label the artifact's decision rule gives, its probability, every class's.

    ``label`` is the label as shown: its display name when the artifact has label names, else the label
    of the training data; ``label_id`` is always that original label (None when the rule abstained and
    ``label`` is the abstain label). ``scores`` are keyed by the shown labels; ``top``: the ``top_k``
    (label, probability) pairs, most probable first, when `classify` was asked for them.
    ``windows``: how many windows of the text were classified (1 unless ``long_text="window"``);
    ``truncated``: part of the text was not read (beyond ``max_length`` tokens when truncating, or
    beyond ``max_windows`` windows when windowing, or beyond the characters `batching.clip_text` lets
    reach the tokenizer).
    """

    label: Label
    score: float
    scores: dict[Label, float]
    windows: int = 1
    truncated: bool = False
    label_id: Label | None = None
    top: tuple[tuple[Label, float], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """JSON data (``json.dumps`` takes it): score keys become strings, as JSON object keys must be."""
        data: dict[str, Any] = {
            "label": self.label,
            "label_id": self.label_id,
            "score": self.score,
            "scores": {str(k): v for k, v in self.scores.items()},
            "windows": self.windows,
            "truncated": self.truncated,
        }
        if self.top:
            data["top"] = [{"label": label, "score": score} for label, score in self.top]
        return data


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count, under taskset/cgroups)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def _whole_number(name: str, value: Any) -> int:
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{name} must be a whole number of 1 or more, not {value!r}")
    return value


def _thread_count(value: Any) -> int:
    """``threads`` if the cores can run it: each thread is an onnxruntime pool thread and a worker, so
    beyond the cores this process may run on they only wait for each other, and a count like 10**6 asked
    for a million of them (15.8 GB before the first answer). Refused (``UsageError``) rather than clamped,
    so the number a deployment sets is the number it runs."""
    threads = _whole_number("threads", value)
    cores = available_cores()
    if threads > cores:
        raise UsageError(
            f"threads {threads} is more than the {cores} CPU core{'s' if cores > 1 else ''} this process may run "
            f"on; use at most {cores}, or leave it out to use them all"
        )
    return threads


class _GraphFile:
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


# Fork safety. A forked child has only the thread that forked: onnxruntime's thread pools and our
# worker threads are gone, and a lock some other parent thread held stays locked forever. Destroying
# the parent's multi-threaded session in the child joins threads that do not exist (a hang), and
# running the parent's session may wait on an allocator lock a parent thread held. So, in the child,
# every live classifier drops all of its parent's onnxruntime objects, thread pool and tokenizers
# *without destroying them* (one leaked reference each: they are never freed, not even at exit) and
# builds fresh ones on first use from the artifact file, re-verified against the loaded hash.
_LIVE: weakref.WeakSet[Classifier] = weakref.WeakSet()


def _keep_forever(objects: object) -> None:
    """One reference that is never released, so no destructor runs in this process (not even at exit)."""
    import ctypes

    ctypes.pythonapi.Py_IncRef(ctypes.py_object(objects))


def _after_fork_in_child() -> None:
    end_child_without_inherited_destructors()  # else sys.exit hangs or aborts (probe_runtime.forks)
    for clf in list(_LIVE):
        clf._leave_parent_state()


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def _as_list(texts: Any) -> tuple[list[Any], bool]:
    """The texts as a list, and whether one string was given; a container that is no list of texts is refused."""
    if isinstance(texts, str):
        return [texts], True
    _refuse_container(texts)
    try:
        return list(texts), False
    except TypeError:
        raise InputError(f"texts is {type(texts).__name__}; pass a string or a list of strings") from None


def _refuse_container(texts: Any) -> None:
    """``InputError`` for what people pass by mistake where a list of texts belongs (named, with the fix)."""
    what = type(texts).__name__
    if texts is None:
        raise InputError("texts is None; pass a string or a list of strings")
    if isinstance(texts, (bytes, bytearray, memoryview)):
        raise InputError(f"texts is {what}; decode it to a string first, e.g. data.decode('utf-8')")
    if isinstance(texts, Mapping):
        raise InputError(f"texts is a {what}; pass a list of strings, e.g. list(d.values())")
    if isinstance(texts, (set, frozenset)):
        raise InputError(f"texts is a {what}, which has no order; pass a list so results line up with texts")


def _check_text(text: Any, name: str) -> str:
    """``text`` if it is something to classify, else an ``InputError`` naming it (``name``) and the fix."""
    if not isinstance(text, str):
        hint = "; decode it to a string first" if isinstance(text, (bytes, bytearray)) else ""
        raise InputError(f"{name} is {type(text).__name__}, not str{hint}")
    if not text or text.isspace():
        raise InputError(
            f"{name} is {'empty' if not text else 'only whitespace'}: there is nothing to classify; "
            "drop it before calling (the CLI skips such rows and counts them as empty)"
        )
    if not text.isascii():
        bad = _SURROGATE.search(text)
        if bad:
            raise InputError(
                f"{name} holds a lone surrogate U+{ord(bad.group()):04X} at character {bad.start()}, which is "
                "not valid Unicode (often bytes decoded with errors='surrogateescape'); decode the source "
                "with errors='replace' or remove it"
            )
    return text


def _checked(texts: Any, first: int = 0) -> tuple[list[str], bool]:
    """The texts as a list, and whether one string was given; anything else is an ``InputError`` naming it.

    ``first``: the number of the first text, so a stream's errors name the text's place in the whole stream.
    """
    items, single = _as_list(texts)
    for i, text in enumerate(items, start=first):
        _check_text(text, "the text" if single else f"text #{i}")
    return items, single


class Classifier:
    """A loaded artifact. Thread-safe for concurrent ``predict`` calls (onnxruntime sessions are).

    Batches of one call run concurrently on ``threads`` worker threads, one onnxruntime thread each;
    a call that makes one big batch instead splits its matrices over ``threads`` onnxruntime threads.
    Safe to use in processes forked after it was loaded, in any state (see ``_after_fork_in_child``).
    """

    def __init__(
        self,
        session: ort.InferenceSession,
        manifest: Manifest,
        tokenizer_json: str,
        source: str,
        long_text: LongText | None = None,
        threads: int | None = None,
        *,
        tokenizer: Tokenizer | None = None,
        sha256: Mapping[str, str] | None = None,
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        threshold: float | None = None,
        spinning: bool = DEFAULT_SPINNING,
    ) -> None:
        self.decider: Decider = decider_for(manifest, threshold)  # the artifact's rule, or the override
        self.threads = available_cores() if threads is None else _thread_count(threads)
        self.providers = tuple(providers)  # every session of this classifier runs on these
        self.spinning = check_spinning(spinning)  # and with these pool threads' waiting
        self.manifest = manifest
        self.source = source
        self.sha256 = dict(sha256 or {})  # graph, tokenizer, manifest: verified at load
        self._graph = _GraphFile(Path(source), self.sha256.get("graph"))
        self._tokenizer_json = tokenizer_json
        self._lock = threading.Lock()
        self._session: ort.InferenceSession | None = session
        self._wide_session: ort.InferenceSession | None = None  # created on first need, see _SPLIT_BATCH_TOKENS
        self._pool: ThreadPoolExecutor | None = None
        declared = [i.name for i in session.get_inputs()]
        unknown = [n for n in declared if n not in INPUT_NAMES]
        if unknown:
            raise ArtifactError(f"{source} declares graph inputs this runtime cannot feed: {unknown}")
        self._declared = declared
        self.long_text = long_text or resolve_long_text(manifest)
        self._encoder: TextEncoder | None = None
        self._windower: Windower | None = None
        self._build_text_side(tokenizer)
        self.canary_check: CanaryCheck | None = None  # set by `load` when the file's canaries ran here
        _LIVE.add(self)

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        threads: int | None = None,
        long_text: str | None = None,
        window_stride: int | None = None,
        window_aggregate: str | None = None,
        max_windows: int | None = None,
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        threshold: float | None = None,
        spinning: bool = DEFAULT_SPINNING,
        self_check: bool = True,
    ) -> Classifier:
        """Open and check an artifact (hashes, manifest, tokenizer, graph; see ``probe_runtime.loader``), then
        run its canary texts (``probe_runtime.canary``).

        ``threads``: how many batches run at once, one core each (default: all cores).
        ``long_text`` (``truncate``/``window``), ``window_stride`` (tokens of overlap) and
        ``window_aggregate`` (``max``/``mean``/``auto``) override the artifact's long-text policy;
        ``max_windows`` caps the windows read per text (default 64; see ``probe_runtime.long_text``).
        ``providers``: onnxruntime execution providers in order of preference; each must be in
        ``onnxruntime.get_available_providers()``.
        ``threshold`` (0 to 1) replaces the artifact's decision rule: for two labels, the positive label
        (the recorded one, else the second) when its probability is at least ``threshold``; for more, the
        abstain label when the best probability is below it. ``predict_proba`` is never affected.
        ``spinning``: let onnxruntime's pool threads busy-wait for work (``session.intra_op.allow_spinning``
        and ``inter_op``) instead of sleeping; every text classified alone then runs on ``threads`` threads.
        Off by default: on an idle 2-core AMD EPYC it cut the back-to-back single-text p50 by a quarter but
        used ~0.9 cores while serving 20 requests a second (0.07 off), and on shared cores it was slower
        (docs/benchmarks.md); turn it on for a dedicated machine that answers back to back.
        ``self_check``: run the file's 24 short canary texts (tens of ms) and refuse it with ``CpuMismatchError``
        when this CPU answers them differently from the exporting machine (``probe_runtime.canary``); False loads
        it anyway (`canary_check` stays None).
        Bad option values raise ``UsageError`` (before the file is read); a bad file raises ``ArtifactError``.
        """
        if threads is not None:
            _thread_count(threads)
        if max_windows is not None:
            _whole_number("max_windows", max_windows)
        if threshold is not None:
            check_threshold(threshold)
        check_spinning(spinning)
        if not isinstance(self_check, bool):
            raise UsageError(f"self_check must be True or False, not {self_check!r}")
        providers = check_providers(providers)
        artifact = open_artifact(path, providers, spinning)
        settings = resolve_long_text(artifact.manifest, long_text, window_stride, window_aggregate, max_windows)
        classifier = cls(
            artifact.session,
            artifact.manifest,
            artifact.tokenizer_json,
            artifact.source,
            settings,
            threads,
            tokenizer=artifact.tokenizer,
            sha256=artifact.sha256,
            providers=providers,
            threshold=threshold,
            spinning=spinning,
        )
        if self_check and artifact.manifest.canaries is not None:
            check = check_canaries(artifact.manifest.canaries, classifier.predict_proba, artifact.source)
            if not check.passed:
                raise mismatch_error(check, artifact.source)
            classifier.canary_check = check
        return classifier

    @classmethod
    def from_graph(
        cls, path: str | os.PathLike[str], manifest: Manifest, tokenizer_json: str, threads: int | None = None
    ) -> Classifier:
        """Run a graph that carries no manifest yet (the exporter verifies candidates this way)."""
        data = read_model_bytes(path)
        session = new_session(data, str(path))
        return cls(session, manifest, tokenizer_json, str(path), threads=threads, sha256={"graph": graph_sha256(data)})

    @property
    def labels(self) -> list[Label]:
        """The labels as in the training data, in the order of `predict_proba`'s columns."""
        return list(self.manifest.labels)

    @property
    def classes_(self) -> np.ndarray:
        """The shown labels (display names when the artifact has them) in column order, like scikit-learn's."""
        return np.asarray(self.decider.labels)

    @property
    def threshold(self) -> float | None:
        """The threshold in force (binary: on the positive label; multi-class: the minimum score), None: argmax."""
        return self.decider.threshold if self.decider.threshold is not None else self.decider.min_score

    @property
    def session(self) -> ort.InferenceSession:
        """The one-thread session (rebuilt from the verified file on first use in a forked child)."""
        session = self._session
        if session is None:
            with self._lock:
                if self._session is None:
                    self._session = new_session(
                        self._graph.read(), self.source, providers=self.providers, spinning=self.spinning
                    )
                session = self._session
        return session

    @property
    def encoder(self) -> TextEncoder:
        return self._text_side()[0]

    def _build_text_side(self, tokenizer: Tokenizer | None = None) -> None:
        encoder = TextEncoder(
            tokenizer or self._tokenizer_json, self.manifest.max_length, self.manifest.pad_token_id, self._declared
        )
        windower = (
            Windower(encoder.tokenizer, self.manifest.max_length, self.manifest.labels, self.long_text)
            if self.long_text.policy == "window"
            else None
        )
        self._encoder, self._windower = encoder, windower

    def _text_side(self) -> tuple[TextEncoder, Windower | None]:
        encoder, windower = self._encoder, self._windower
        if encoder is None:
            with self._lock:
                if self._encoder is None:
                    self._build_text_side()
                encoder, windower = self._encoder, self._windower
        assert encoder is not None
        return encoder, windower

    def _leave_parent_state(self) -> None:
        """In a forked child: keep the parent's objects alive forever, untouched; fresh ones come on first use."""
        _keep_forever((self._session, self._wide_session, self._pool, self._encoder, self._windower, self._lock))
        self._session = self._wide_session = self._pool = self._encoder = self._windower = None
        self._lock = threading.Lock()

    def predict_proba(
        self,
        texts: Sequence[str] | str,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
    ) -> np.ndarray:
        """Class probabilities ``[n_texts, n_labels]`` (``[n_labels]`` for a single string).

        Every text must be a non-empty, non-blank ``str`` of valid Unicode; otherwise ``InputError``
        names the first bad one and nothing is classified.
        """
        proba, _, single = self._proba(texts, batch_size, max_tokens)
        return proba[0] if single else proba

    def _proba(self, texts: Any, batch_size: int, max_tokens: int, first: int = 0) -> tuple[np.ndarray, Coverage, bool]:
        items, single = _checked(texts, first)
        _whole_number("batch_size", batch_size)
        _whole_number("max_tokens", max_tokens)
        if not items:
            empty = np.empty(0, dtype=np.int64)
            return np.empty((0, len(self.manifest.labels)), dtype=np.float32), Coverage(empty, empty > 0), single
        encoder, windower = self._text_side()
        if windower is not None:
            proba, coverage = windower.predict_proba(items, lambda windows: self._run(windows, batch_size, max_tokens))
            return proba, coverage, single
        encodings, clipped = encoder.encode_clipped(items)
        truncated = np.fromiter((bool(e.overflowing) for e in encodings), dtype=bool, count=len(encodings))
        truncated |= clipped
        coverage = Coverage(np.ones(len(items), dtype=np.int64), truncated)
        return self._run(encodings, batch_size, max_tokens), coverage, single

    def _run(
        self, encodings: Sequence[Encoding], batch_size: int, max_tokens: int, output: str = OUTPUT_NAME
    ) -> np.ndarray:
        """One graph output (probabilities by default) for already-tokenized inputs, in their order."""
        if len(encodings) == 1:  # one text: its row is the answer, no scatter into a new array
            (batch,) = self.encoder.batches(encodings, batch_size, max_tokens)
            rows = self._session_for(batch).run([output], batch.feeds)[0]
            return np.asarray(self._checked_rows(rows, batch, output, None), dtype=np.float32)
        out: np.ndarray | None = None
        for batch, rows in self._executed(self.encoder.batches(encodings, batch_size, max_tokens), output):
            rows = self._checked_rows(rows, batch, output, None if out is None else out.shape[1])
            if out is None:
                out = np.empty((len(encodings), rows.shape[1]), dtype=np.float32)
            out[batch.positions] = rows
        return out if out is not None else np.empty((0, len(self.manifest.labels)), dtype=np.float32)

    def _checked_rows(self, rows: np.ndarray, batch: Batch, output: str, width: int | None) -> np.ndarray:
        """``rows`` if they are one row per text of ``batch``, as wide as the labels (or the batches before).

        The load checks the graph on small inputs; this holds it to the same on every input it is given,
        so a graph whose output shape depends on the input is refused in one line, never a numpy error.
        """
        if output == OUTPUT_NAME:
            width = len(self.manifest.labels)
        if rows.ndim != 2 or rows.shape[0] != len(batch.positions) or (width is not None and rows.shape[1] != width):
            texts, tokens = next(iter(batch.feeds.values())).shape
            plural, wanted = "s" if texts > 1 else "", "width" if width is None else width
            raise ArtifactError(
                f"{self.source}: its graph's {output!r} output is {list(rows.shape)} for {texts} text{plural} of "
                f"{tokens} tokens, not [{texts}, {wanted}]; re-export the model with `probe export`"
            )
        return rows

    def _executed(self, batches: Iterable[Batch], output: str) -> Iterator[tuple[Batch, np.ndarray]]:
        """Each batch with its graph output, ``self.threads`` batches in flight (padding stays lazy)."""
        pending = iter(batches)
        first, second = next(pending, None), next(pending, None)
        if first is None:
            return
        if second is None:  # one batch (e.g. a single text): no hand-off; split its matrices if big enough
            yield first, self._session_for(first).run([output], first.feeds)[0]
            return
        session = self.session
        if self.threads == 1:
            for batch in itertools.chain((first, second), pending):
                yield batch, session.run([output], batch.feeds)[0]
            return
        with self._lock:  # callers may share one Classifier across threads
            if self._pool is None:
                from concurrent.futures import ThreadPoolExecutor

                self._pool = ThreadPoolExecutor(self.threads, thread_name_prefix="probe-runtime")
            pool = self._pool
        in_flight: deque[tuple[Batch, Future[list[np.ndarray]]]] = deque()
        for batch in itertools.chain((first, second), pending):
            in_flight.append((batch, pool.submit(session.run, [output], batch.feeds)))
            if len(in_flight) > self.threads:
                done, future = in_flight.popleft()
                yield done, future.result()[0]
        while in_flight:
            done, future = in_flight.popleft()
            yield done, future.result()[0]

    def _session_for(self, batch: Batch) -> ort.InferenceSession:
        """The session for a batch that runs alone: multi-threaded when it is big enough to gain.

        With spinning threads every lone batch is: a pool whose threads busy-wait instead of sleeping hands
        out the matrices of even one short text fast enough to gain (benchmarks/spinning.py: SST-2 phrases
        one at a time on an idle AMD EPYC); without, the hand-off costs more than it saves below
        `_SPLIT_BATCH_TOKENS`.
        """
        threshold = 1 if self.spinning else _SPLIT_BATCH_TOKENS
        if self.threads == 1 or next(iter(batch.feeds.values())).size < threshold:
            return self.session
        with self._lock:
            if self._wide_session is None:
                # From the file re-read and re-hashed: the same graph the one-thread session runs.
                self._wide_session = new_session(
                    self._graph.read(), self.source, self.threads, self.providers, self.spinning
                )
            return self._wide_session

    @overload
    def embed(self, texts: str, batch_size: int = ..., max_tokens: int = ...) -> np.ndarray: ...
    @overload
    def embed(self, texts: Sequence[str], batch_size: int = ..., max_tokens: int = ...) -> np.ndarray: ...
    def embed(
        self, texts: Sequence[str] | str, batch_size: int = DEFAULT_BATCH_SIZE, max_tokens: int = DEFAULT_MAX_TOKENS
    ) -> np.ndarray:
        """The pooled vectors the head reads, ``[n_texts, hidden]`` (``[hidden]`` for one string; truncated texts)."""
        if EMBEDDINGS_NAME not in {o.name for o in self.session.get_outputs()}:
            raise ArtifactError(f"{self.source} does not expose embeddings; re-export it with a newer probe")
        items, single = _checked(texts)
        _whole_number("batch_size", batch_size)
        _whole_number("max_tokens", max_tokens)
        if not items:
            return np.empty((0, 0), dtype=np.float32)
        vectors = self._run(self.encoder.encode(items), batch_size, max_tokens, EMBEDDINGS_NAME)
        return vectors[0] if single else vectors

    # A str is also a Sequence[str], so mypy sees these overloads overlap; the first one matches a str,
    # which is exactly the intended reading (one text in, one answer out).
    @overload
    def predict(self, texts: str) -> Label: ...  # type: ignore[overload-overlap]
    @overload
    def predict(self, texts: Sequence[str]) -> list[Label]: ...
    def predict(self, texts: Sequence[str] | str) -> list[Label] | Label:
        """The label per text by the artifact's decision rule, as shown (one label for a single string)."""
        proba, _, single = self._proba(texts, DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS)
        labels = [self.decider.label(int(i)) for i in self.decider.indices(proba)]
        return labels[0] if single else labels

    @overload
    def classify(self, texts: str, top_k: int | None = None) -> Prediction: ...  # type: ignore[overload-overlap]  # see predict
    @overload
    def classify(self, texts: Sequence[str], top_k: int | None = None) -> list[Prediction]: ...
    def classify(self, texts: Sequence[str] | str, top_k: int | None = None) -> list[Prediction] | Prediction:
        """Label, score, all class scores and coverage per text (one `Prediction` for a single string);
        ``top_k``: also the k most probable labels (``Prediction.top``)."""
        top_k = self._top_k(top_k)
        proba, coverage, single = self._proba(texts, DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS)
        results = self._predictions(proba, coverage, top_k)
        return results[0] if single else results

    def pipeline(self, texts: Sequence[str] | str, top_k: int | None = 1) -> list[Any]:
        """The output of a Hugging Face text-classification pipeline: ``{"label": …, "score": …}`` dicts.

        ``top_k=1`` (the default): one dict per text, the label the decision rule gives, as a list (a
        single string gives a list of one). ``top_k=None`` (every label) or ``k``: per text, a list of
        dicts sorted by probability; a single string gives that list itself.
        """
        if top_k == 1:
            return [{"label": p.label, "score": p.score} for p in self.classify(_as_list(texts)[0])]
        k = len(self.labels) if top_k is None else self._top_k(top_k)
        items, single = _as_list(texts)
        ranked = [[{"label": label, "score": score} for label, score in p.top] for p in self.classify(items, k)]
        return ranked[0] if single else ranked

    def _top_k(self, top_k: int | None) -> int | None:
        if top_k is None:
            return None
        return min(_whole_number("top_k", top_k), len(self.labels))

    __call__ = classify

    def classify_stream(
        self,
        texts: Iterable[str],
        *,
        chunk_size: int = DEFAULT_CHUNK_SIZE,
        batch_size: int = DEFAULT_BATCH_SIZE,
        max_tokens: int = DEFAULT_MAX_TOKENS,
        top_k: int | None = None,
    ) -> Iterator[Prediction]:
        """One `Prediction` per text of ``texts``, in order, for inputs too long to hold in memory.

        Texts are taken ``chunk_size`` at a time and each chunk is classified like one `classify` call
        (length-sorted into batches of at most ``batch_size`` texts and ``max_tokens`` padded tokens), so
        memory depends on the chunk, never on the stream, and the answers are `classify`'s. The next chunk
        is taken from ``texts`` only when every prediction of the previous one has been consumed: a caller
        that has taken all predictions so far knows that exactly the texts they answer were read (the file
        classifier checkpoints on that). A bad text raises ``InputError`` naming its place in the stream
        (``text #i``, counted from 0), after the predictions of the chunks before it.
        Bad options, or a single ``str`` instead of an iterable of texts, raise at the call, not at first use.
        """
        if isinstance(texts, str):
            raise InputError("texts is one str; classify_stream takes an iterable of texts (for one text: classify)")
        _refuse_container(texts)
        for name, value in (("chunk_size", chunk_size), ("batch_size", batch_size), ("max_tokens", max_tokens)):
            _whole_number(name, value)
        try:
            stream = iter(texts)
        except TypeError:
            raise InputError(f"texts is {type(texts).__name__}; pass an iterable of strings") from None
        return self._stream(stream, chunk_size, batch_size, max_tokens, self._top_k(top_k))

    def _stream(
        self, texts: Iterator[str], chunk_size: int, batch_size: int, max_tokens: int, top_k: int | None
    ) -> Iterator[Prediction]:
        done = 0
        while chunk := list(itertools.islice(texts, chunk_size)):
            proba, coverage, _ = self._proba(chunk, batch_size, max_tokens, first=done)
            yield from self._predictions(proba, coverage, top_k)
            done += len(chunk)

    def _predictions(self, proba: np.ndarray, coverage: Coverage, top_k: int | None = None) -> list[Prediction]:
        chosen = self.decider.indices(proba)
        return [
            self._prediction(row, int(index), int(windows), bool(truncated), top_k)
            for row, index, windows, truncated in zip(proba, chosen, coverage.windows, coverage.truncated)
        ]

    def _prediction(self, row: np.ndarray, index: int, windows: int, truncated: bool, top_k: int | None) -> Prediction:
        shown = self.decider.labels
        scores = {label: float(p) for label, p in zip(shown, row)}
        # Abstaining, the score is the best probability: the one that fell short of the minimum.
        score = float(row.max()) if index == ABSTAIN else float(row[index])
        label_id = None if index == ABSTAIN else self.manifest.labels[index]
        top = tuple((shown[i], float(row[i])) for i in np.argsort(-row, kind="stable")[:top_k]) if top_k else ()
        return Prediction(self.decider.label(index), score, scores, windows, truncated, label_id, top)
