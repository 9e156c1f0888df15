"""Classify texts with a probe artifact: onnxruntime + tokenizers + numpy, nothing heavier.

`Classifier` is the package's face: loading (`Classifier.load`, its options one `LoadOptions` record) and the
ways to ask (predict, predict_proba, classify, classify_stream, pipeline, embed). What it runs on, sessions,
worker threads, tokenizers and their renewal in a forked child, is `probe_runtime.execution`; the checks on
the texts it is given are `probe_runtime.text_input`; a `Prediction` is `probe_runtime.prediction`.
"""

from __future__ import annotations

import itertools
import os
from collections.abc import Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, overload

import numpy as np
import onnxruntime as ort
from tokenizers import Encoding, Tokenizer

from .artifact import EMBEDDINGS_NAME, INPUT_NAMES, OUTPUT_NAME, Label, Manifest
from .batching import Batch, TextEncoder
from .canary import CanaryCheck, check_canaries, mismatch_error
from .decision import Decider, decider_for
from .errors import ArtifactError, InputError, UsageError
from .execution import GraphFile, Sessions, TextSide
from .integrity import graph_sha256
from .load_options import LoadOptions, available_cores, thread_count, whole_number
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
from .long_text import Coverage, LongText, resolve_long_text
from .prediction import Prediction, predictions
from .text_input import as_list, checked_texts, refuse_container

__all__ = [
    "DEFAULT_CHUNK_SIZE",
    "DEFAULT_PROVIDERS",
    "DISABLED_FUSIONS",
    "Classifier",
    "LoadOptions",
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


class Classifier:
    """A loaded artifact. Thread-safe for concurrent ``predict`` calls (onnxruntime sessions are).

    Batches of one call run concurrently on ``threads`` worker threads, one onnxruntime thread each;
    a call that makes one big batch instead splits its matrices over ``threads`` onnxruntime threads.
    Safe to use in processes forked after it was loaded, in any state (`probe_runtime.execution`).
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
        thresholds: Mapping[str, float] | None = None,
    ) -> None:
        # The artifact's rule, or the overrides
        self.decider: Decider = decider_for(manifest, threshold, thresholds, source)
        self.threads = available_cores() if threads is None else thread_count(threads)
        self.providers = tuple(providers)  # every session of this classifier runs on these
        self.spinning = check_spinning(spinning)  # and with these pool threads' waiting
        self.manifest = manifest
        self.source = source
        self.sha256 = dict(sha256 or {})  # graph, tokenizer, manifest: verified at load
        declared = [i.name for i in session.get_inputs()]
        unknown = [n for n in declared if n not in INPUT_NAMES]
        if unknown:
            raise ArtifactError(f"{source} declares graph inputs this runtime cannot feed: {unknown}")
        graph = GraphFile(Path(source), self.sha256.get("graph"))
        self._sessions = Sessions(session, graph, self.threads, self.providers, self.spinning)
        self.long_text = long_text or resolve_long_text(manifest)
        self._text = TextSide(tokenizer_json, manifest, declared, self.long_text, tokenizer)
        self.canary_check: CanaryCheck | None = None  # set by `load` when the file's canaries ran here

    @classmethod
    def load(
        cls,
        path: str | os.PathLike[str],
        *,
        options: LoadOptions | None = None,
        threads: int | None = None,
        long_text: str | None = None,
        window_stride: int | None = None,
        window_aggregate: str | None = None,
        max_windows: int | None = None,
        providers: Sequence[str] = DEFAULT_PROVIDERS,
        threshold: float | None = None,
        spinning: bool = DEFAULT_SPINNING,
        self_check: bool = True,
        thresholds: Mapping[str, float] | None = None,
    ) -> Classifier:
        """Open and check an artifact (hashes, manifest, tokenizer, graph; see ``probe_runtime.loader``), then
        run its canary texts (``probe_runtime.canary``).

        The options are `LoadOptions`' fields (its doc says what each does), given as keywords, or as one
        ``options=`` record, say the one a configuration or a command line built, but not both.
        Bad option values raise ``UsageError`` (before the file is read); a bad file raises ``ArtifactError``.
        """
        keywords = LoadOptions(
            threads,
            long_text,  # type: ignore[arg-type]  # a str is checked and made the enum
            window_stride,
            window_aggregate,  # type: ignore[arg-type]
            max_windows,
            providers,  # type: ignore[arg-type]  # any sequence of names is kept as a tuple
            threshold,
            spinning,
            self_check,
            thresholds,
        )
        if options is not None and not isinstance(options, LoadOptions):
            raise UsageError(f"options must be a LoadOptions record, not {type(options).__name__}")
        if options is not None and keywords != LoadOptions():
            raise UsageError("pass the load options as keywords or as one LoadOptions record, not both")
        return cls._open(path, options or keywords)

    @classmethod
    def _open(cls, path: str | os.PathLike[str], options: LoadOptions) -> Classifier:
        """`load` with its options checked: what depends on this machine, the file, the classifier, its canaries."""
        threads = None if options.threads is None else thread_count(options.threads)
        providers = check_providers(options.providers)
        artifact = open_artifact(path, providers, options.spinning)
        settings = resolve_long_text(
            artifact.manifest, options.long_text, options.window_stride, options.window_aggregate, options.max_windows
        )
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
            threshold=options.threshold,
            spinning=options.spinning,
            thresholds=options.thresholds,
        )
        if options.self_check and artifact.manifest.canaries is not None:
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
    def session(self) -> ort.InferenceSession:
        """The one-thread session (rebuilt from the verified file on first use in a forked child)."""
        return self._sessions.session

    @property
    def encoder(self) -> TextEncoder:
        return self._text.get()[0]

    @property
    def labels(self) -> list[Label]:
        """The labels as in the training data, in the order of `predict_proba`'s columns."""
        return list(self.manifest.labels)

    @property
    def classes_(self) -> np.ndarray:
        """The shown labels (display names when the artifact has them) in column order, like scikit-learn's."""
        return np.asarray(self.decider.labels)

    @property
    def multi_label(self) -> bool:
        """Several labels per text (a sigmoid and a threshold per label), or one (``Manifest.task``)."""
        return self.decider.multi_label

    @property
    def thresholds(self) -> dict[Label, float] | None:
        """A multi-label file's threshold per shown label in force (the file's, or the load's overrides)."""
        per_label = self.decider.per_label
        return None if per_label is None else dict(zip(self.decider.labels, per_label))

    @property
    def threshold(self) -> float | None:
        """The threshold in force (binary: on the positive label; multi-class: the minimum score), None: argmax."""
        return self.decider.threshold if self.decider.threshold is not None else self.decider.min_score

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
        items, single = checked_texts(texts, first)
        whole_number("batch_size", batch_size)
        whole_number("max_tokens", max_tokens)
        if not items:
            empty = np.empty(0, dtype=np.int64)
            return np.empty((0, len(self.manifest.labels)), dtype=np.float32), Coverage(empty, empty > 0), single
        encoder, windower = self._text.get()
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
            rows = self._sessions.session_for(batch).run([output], batch.feeds)[0]
            return np.asarray(self._checked_rows(rows, batch, output, None), dtype=np.float32)
        out: np.ndarray | None = None
        for batch, rows in self._sessions.executed(self.encoder.batches(encodings, batch_size, max_tokens), output):
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
        items, single = checked_texts(texts)
        whole_number("batch_size", batch_size)
        whole_number("max_tokens", max_tokens)
        if not items:
            return np.empty((0, 0), dtype=np.float32)
        vectors = self._run(self.encoder.encode(items), batch_size, max_tokens, EMBEDDINGS_NAME)
        return vectors[0] if single else vectors

    # A str is also a Sequence[str], so mypy sees these overloads overlap; the first one matches a str,
    # which is exactly the intended reading (one text in, one answer out).
    @overload
    def predict(self, texts: str) -> Label | list[Label]: ...  # type: ignore[overload-overlap]
    @overload
    def predict(self, texts: Sequence[str]) -> list[Label] | list[list[Label]]: ...
    def predict(self, texts: Sequence[str] | str) -> list[Label] | list[list[Label]] | Label:
        """The label per text by the artifact's decision rule, as shown (one label for a single string); for a
        multi-label file, the list of labels that pass their thresholds per text, most probable first."""
        proba, _, single = self._proba(texts, DEFAULT_BATCH_SIZE, DEFAULT_MAX_TOKENS)
        if self.decider.multi_label:
            sets = [list(applied) for applied in self.decider.label_sets(proba)]
            return sets[0] if single else sets
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
        results = predictions(self.decider, self.manifest.labels, proba, coverage, top_k)
        return results[0] if single else results

    def pipeline(self, texts: Sequence[str] | str, top_k: int | None = 1) -> list[Any]:
        """The output of a Hugging Face text-classification pipeline: ``{"label": …, "score": …}`` dicts.

        ``top_k=1`` (the default): one dict per text, the label the decision rule gives, as a list (a
        single string gives a list of one); for a multi-label file, the most probable label (its sigmoid
        probability), as Hugging Face's multi-label pipeline answers. ``top_k=None`` (every label) or ``k``:
        per text, a list of dicts sorted by probability; a single string gives that list itself.
        """
        if top_k == 1:
            return [{"label": p.label, "score": p.score} for p in self.classify(as_list(texts)[0])]
        k = len(self.labels) if top_k is None else self._top_k(top_k)
        items, single = as_list(texts)
        ranked = [[{"label": label, "score": score} for label, score in p.top] for p in self.classify(items, k)]
        return ranked[0] if single else ranked

    def _top_k(self, top_k: int | None) -> int | None:
        if top_k is None:
            return None
        return min(whole_number("top_k", top_k), len(self.labels))

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
        refuse_container(texts)
        for name, value in (("chunk_size", chunk_size), ("batch_size", batch_size), ("max_tokens", max_tokens)):
            whole_number(name, value)
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
            yield from predictions(self.decider, self.manifest.labels, proba, coverage, top_k)
            done += len(chunk)
