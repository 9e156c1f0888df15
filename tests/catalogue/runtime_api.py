"""Catalogue: damaged or tampered artifacts (through `probe-runtime info`/`classify`) and Python API misuse."""

from __future__ import annotations

import base64
import shutil
from collections.abc import Callable
from pathlib import Path

import onnx

from tests.catalogue.case import Case, Context, Outcome, api, probe_runtime
from tests.runtime.tampering import (
    flip,
    flip_weight_bytes,
    output_per_token,
    output_wider_on_long_inputs,
    rewrite,
    write_props,
)


def _copy(ctx: Context) -> Path:
    return Path(shutil.copy(ctx.model, ctx.tmp / "model.onnx"))


def _info(build: Callable[[Context], Path]) -> Callable[[Context], Outcome]:
    return lambda ctx: probe_runtime(["info", str(build(ctx))])


def _classify(build: Callable[[Context], Path]) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        texts = ctx.tmp / "texts.txt"
        texts.write_text("the movie was great\n", encoding="utf-8")
        return probe_runtime(["classify", str(build(ctx)), str(texts), "--out", str(ctx.tmp / "out.jsonl")])

    return run


def _nothing_written(ctx: Context) -> None:
    assert not (ctx.tmp / "out.jsonl").exists()
    assert not (ctx.tmp / ".out.jsonl.partial").exists(), "a partial output was left behind"


def _flipped_graph(ctx: Context) -> Path:
    return flip_weight_bytes(_copy(ctx), ctx.tmp / "flipped.onnx", 2000)


def _flipped_tokenizer(ctx: Context) -> Path:
    return flip(_copy(ctx), ctx.tmp / "flipped.onnx", b'"excellent"', b'"excellenT"')


def _flipped_manifest(ctx: Context) -> Path:
    return flip(_copy(ctx), ctx.tmp / "flipped.onnx", b'"neg"', b'"nef"')


def _manifest(**changes: object) -> Callable[[Context], Path]:
    return lambda ctx: rewrite(ctx.model, ctx.tmp / "tampered.onnx", manifest=changes)


def _props(**changes: str | None) -> Callable[[Context], Path]:
    return lambda ctx: rewrite(ctx.model, ctx.tmp / "tampered.onnx", props=changes, restamp=False)


def _canaries_from_another_cpu(ctx: Context) -> Path:
    """The file as exported where its canary texts came out 0.01 apart (another CPU's rounding, saturating int8)."""

    def edit(manifest: dict) -> None:
        rows = manifest["canaries"]["probabilities"]
        # Every row moves by exactly 0.01, away from the nearer bound, so none is clipped back within the tolerance.
        steps = [0.01 if r[0] < 0.5 else -0.01 for r in rows]
        manifest["canaries"]["probabilities"] = [[r[0] + d, r[1] - d] for r, d in zip(rows, steps, strict=True)]
        manifest["canaries"]["cpu"] = "Intel Xeon Platinum 8480+ (AMX)"

    return rewrite(ctx.model, ctx.tmp / "elsewhere.onnx", manifest=edit)


def _per_token(ctx: Context) -> Path:
    return output_per_token(ctx.model, ctx.tmp / "per-token.onnx")


def _wider_on_long_inputs(ctx: Context) -> Path:
    """Without canary texts (an earlier exporter's file): the canaries' 32-token texts would catch it at load."""
    plain = rewrite(ctx.model, ctx.tmp / "no-canaries.onnx", manifest=lambda m: m.pop("canaries", None))
    return output_wider_on_long_inputs(plain, ctx.tmp / "wider.onnx")


def _not_onnx(ctx: Context) -> Path:
    path = ctx.tmp / "notes.onnx"
    path.write_text("these are my meeting notes, not a model\n", encoding="utf-8")
    return path


def _external(ctx: Context) -> Path:
    path = ctx.tmp / "external.onnx"
    onnx.save_model(
        onnx.load(str(ctx.model)), str(path), save_as_external_data=True, location="w.bin", size_threshold=0
    )
    proto = onnx.load(str(path), load_external_data=False)
    return write_props(proto, {p.key: p.value for p in proto.metadata_props}, path)


def _huge_vocabulary(ctx: Context) -> Path:
    def edit(spec: dict) -> None:
        spec["model"]["vocab"] = {f"t{i}": i for i in range(1_000_001)}

    return rewrite(ctx.model, ctx.tmp / "huge.onnx", tokenizer=edit)


def _multiplying_tokenizer(ctx: Context) -> Path:
    """A normalizer rule that turns each ``a`` into a million characters (448 characters took 1.06 GB)."""

    def edit(spec: dict) -> None:
        rule = {"type": "Replace", "pattern": {"String": "a"}, "content": "a" * 1_000_000}
        spec["normalizer"] = {"type": "Sequence", "normalizers": [spec["normalizer"], rule]}

    return rewrite(ctx.model, ctx.tmp / "multiplying.onnx", tokenizer=edit)


def _panicking_tokenizer(ctx: Context) -> Path:
    def edit(spec: dict) -> None:
        spec["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(b"\x00").decode()}

    return rewrite(ctx.model, ctx.tmp / "panic.onnx", tokenizer=edit)


def _call(method: str, texts: object, **load: object) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        from probe_runtime import Classifier

        return api(lambda: getattr(Classifier.load(ctx.model, **load), method)(texts))

    return run


def _load(**options: object) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        from probe_runtime import Classifier

        return api(lambda: Classifier.load(ctx.model, **options))

    return run


def _load_record(record: dict[str, object], **options: object) -> Callable[[Context], Outcome]:
    def run(ctx: Context) -> Outcome:
        from probe_runtime import Classifier
        from probe_runtime.load_options import LoadOptions

        return api(lambda: Classifier.load(ctx.model, options=LoadOptions(**record), **options))  # type: ignore[arg-type]

    return run


_HASH_FIX = "Re-download it or re-export the model."

CASES: list[Case] = [
    # --- artifacts, through the CLI ---
    Case(
        "info-flipped-graph",
        "info",
        "2,000 bytes of the model's weights were corrupted (disk, copy, download)",
        _info(_flipped_graph),
        "its graph does not match the SHA-256 recorded at export",
    ),
    Case(
        "info-flipped-tokenizer",
        "info",
        "one byte of the embedded tokenizer was changed",
        _info(_flipped_tokenizer),
        "its tokenizer does not match the SHA-256 recorded at export",
    ),
    Case(
        "info-flipped-manifest",
        "info",
        "one byte of the manifest (a label name) was changed",
        _info(_flipped_manifest),
        "its manifest does not match the SHA-256 recorded at export",
    ),
    Case(
        "classify-flipped-graph",
        "classify",
        "classify with a corrupted model",
        _classify(_flipped_graph),
        _HASH_FIX,
        check=_nothing_written,
    ),
    Case(
        "classify-canaries-disagree",
        "classify",
        "classify with a file this CPU answers differently from the machine that exported it",
        _classify(_canaries_from_another_cpu),
        "this machine moves 24 of the file's 24 canary texts more than 0.0001 (up to 0.01) from the probabilities",
        check=_nothing_written,
    ),
    Case(
        "info-label-count-mismatch",
        "info",
        "the manifest lists 3 labels for a graph with 2 outputs",
        _info(_manifest(labels=["neg", "pos", "other"])),
        "manifest field 'labels' names 3 classes but the graph's 'probabilities' output has 2 columns",
    ),
    Case(
        "info-output-per-token",
        "info",
        "a graph whose 'probabilities' output is [batch, sequence], not [batch, labels] (it loaded, then failed)",
        _info(_per_token),
        "its graph's 'probabilities' output is declared ['batch', 'sequence']: one column per token",
    ),
    Case(
        "classify-output-per-token",
        "classify",
        "classify with a graph whose 'probabilities' output is [batch, sequence] (a numpy error, a .partial left)",
        _classify(_per_token),
        "one column per token, not one per label",
        check=_nothing_written,
    ),
    Case(
        "classify-output-wider-on-long-texts",
        "classify",
        "classify with a graph whose output is right on the load check's short inputs and wider on real texts "
        "(a file without canary texts)",
        _classify(_wider_on_long_inputs),
        "its graph's 'probabilities' output is [1, 4] for 1 text of 6 tokens, not [1, 2]",
        check=_nothing_written,
    ),
    Case(
        "info-max-length-type",
        "info",
        'max_length stored as a string ("64")',
        _info(_manifest(max_length="64")),
        "manifest field 'max_length' must be an integer from 2 to",
    ),
    Case(
        "info-window-stride-range",
        "info",
        "window_stride not below max_length",
        _info(_manifest(window_stride=64)),
        "manifest field 'window_stride' must be an integer from 0 to 63",
    ),
    Case(
        "info-verification-shape",
        "info",
        "verification figures of the wrong type",
        _info(_manifest(verification={"int8": {"accuracy": "high"}})),
        "manifest field 'verification.int8.accuracy' must be a number",
    ),
    Case(
        "info-unknown-schema",
        "info",
        "an artifact from a newer (or older) probe schema",
        _info(_props(**{"probe.schema_version": "99"})),
        "has artifact schema version '99'",
    ),
    Case(
        "info-not-onnx",
        "info",
        "a text file passed as the model",
        _info(_not_onnx),
        "is not a readable ONNX model (corrupted, truncated, or not ONNX at all)",
    ),
    Case(
        "info-external-data",
        "info",
        "a model whose weights live in a separate file",
        _info(_external),
        "in external data files",
    ),
    Case(
        "info-huge-tokenizer",
        "info",
        "a crafted tokenizer with a million-entry vocabulary",
        _info(_huge_vocabulary),
        "1,000,001 vocabulary entries (limit 1,000,000)",
    ),
    Case(
        "info-tokenizer-multiplies-text",
        "info",
        "a crafted tokenizer whose normalizer turns each 'a' into a million characters",
        _info(_multiplying_tokenizer),
        "its tokenizer's normalizer can turn one character into up to 36,000,000 characters (the limit is 64",
    ),
    Case(
        "classify-tokenizer-multiplies-text",
        "classify",
        "classify with a tokenizer whose normalizer turns each 'a' into a million characters",
        _classify(_multiplying_tokenizer),
        "its tokenizer's normalizer can turn one character into up to",
        check=_nothing_written,
    ),
    Case(
        "info-panicking-tokenizer",
        "info",
        "a tokenizer whose internals make the Rust library panic",
        _info(_panicking_tokenizer),
        "tokenizer crashed while loading",
    ),
    # --- the Python API ---
    Case(
        "api-self-check-not-bool",
        "api",
        'Classifier.load(path, self_check="no")',
        _load(self_check="no"),
        "self_check must be True or False",
        exit_code=None,
    ),
    Case(
        "api-load-options-and-keywords",
        "api",
        "Classifier.load(path, options=LoadOptions(threads=1), threads=2) (the options twice)",
        _load_record(dict(threads=1), threads=2),
        "pass the load options as keywords or as one LoadOptions record, not both",
        exit_code=None,
    ),
    Case(
        "api-load-options-not-a-record",
        "api",
        "Classifier.load(path, options={'threads': 2}) (a dict where the record belongs)",
        _load(options={"threads": 2}),
        "options must be a LoadOptions record, not dict",
        exit_code=None,
    ),
    Case(
        "api-load-options-bad-value",
        "api",
        "LoadOptions(window_stride=-1) (checked when the record is made, before any file is read)",
        _load_record(dict(window_stride=-1)),
        "window_stride must be a whole number of tokens (0 or more), not -1",
        exit_code=None,
    ),
    Case(
        "api-threads-zero",
        "api",
        "Classifier.load(path, threads=0)",
        _load(threads=0),
        "threads must be a whole number of 1 or more",
        exit_code=None,
    ),
    Case(
        "api-threads-beyond-cores",
        "api",
        "Classifier.load(path, threads=10**6) (a million onnxruntime threads grew to 15.8 GB)",
        _load(threads=10**6),
        "threads 1000000 is more than the ",
        exit_code=None,
    ),
    Case(
        "api-max-windows-zero",
        "api",
        "Classifier.load(path, long_text='window', max_windows=0)",
        _load(long_text="window", max_windows=0),
        "max_windows must be a whole number",
        exit_code=None,
    ),
    Case(
        "api-provider-unavailable",
        "api",
        "Classifier.load(path, providers=['CUDAExecutionProvider']) where onnxruntime has no CUDA",
        _load(providers=["NoSuchExecutionProvider"]),
        "execution provider 'NoSuchExecutionProvider' is not available in this onnxruntime; available: ",
        exit_code=None,
    ),
    Case(
        "api-providers-one-string",
        "api",
        "Classifier.load(path, providers='CPUExecutionProvider') (a name, not a list of names)",
        _load(providers="CPUExecutionProvider"),
        "providers must be a non-empty list of execution provider names",
        exit_code=None,
    ),
    Case(
        "api-spinning-not-bool",
        "api",
        "Classifier.load(path, spinning='no') (a string, which Python reads as true)",
        _load(spinning="no"),
        "spinning must be True (pool threads busy-wait for work: lowest latency, burns CPU while idle) or False",
        exit_code=None,
    ),
    Case(
        "api-stream-one-string",
        "api",
        "clf.classify_stream('one text') (a str is an iterable of characters)",
        _call("classify_stream", "great"),
        "texts is one str; classify_stream takes an iterable of texts",
        exit_code=None,
    ),
    Case(
        "api-long-text-unknown",
        "api",
        "Classifier.load(path, long_text='chunks')",
        _load(long_text="chunks"),
        "long_text must be 'truncate' or 'window'",
        exit_code=None,
    ),
    Case("api-none", "api", "clf(None)", _call("classify", None), "texts is None", exit_code=None),
    Case(
        "api-dict",
        "api",
        "clf.predict({'a': 'text'})",
        _call("predict", {"a": "great"}),
        "texts is a dict; pass a list of strings",
        exit_code=None,
    ),
    Case(
        "api-bytes",
        "api",
        "clf(b'text') (undecoded bytes)",
        _call("classify", b"great"),
        "texts is bytes; decode it to a string first",
        exit_code=None,
    ),
    Case(
        "api-bytes-in-list",
        "api",
        "clf.predict_proba(['ok', b'bytes'])",
        _call("predict_proba", ["ok", b"bytes"]),
        "text #1 is bytes, not str",
        exit_code=None,
    ),
    Case(
        "api-surrogate",
        "api",
        "clf('\\udcff') (a lone surrogate from surrogateescape decoding)",
        _call("classify", "\udcff"),
        "the text holds a lone surrogate U+DCFF",
        exit_code=None,
    ),
    Case(
        "api-empty-text",
        "api",
        "clf.classify(['fine', '']) (an empty text)",
        _call("classify", ["fine", ""]),
        "text #1 is empty",
        exit_code=None,
    ),
    Case(
        "api-blank-text",
        "api",
        "clf.embed('   ') (whitespace only)",
        _call("embed", "   "),
        "the text is only whitespace",
        exit_code=None,
    ),
    Case(
        "api-none-in-list",
        "api",
        "clf.predict(['fine', None])",
        _call("predict", ["fine", None]),
        "text #1 is NoneType, not str",
        exit_code=None,
    ),
]
