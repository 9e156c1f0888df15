"""`probe-runtime classify`'s arguments, read once into the typed request the rest of the command works from.

The local run (`probe_runtime.cli.classify`) and the Ray run (`probe_runtime.cli.ray_classify`) take the same
`ClassifyRequest`: the model and the paths, how rows are read and written (`ClassifyOptions`), how the model is
loaded (`LoadOptions`), and, for a run on a cluster, `RayOptions`. Nothing after `classify_request` looks at the
argparse namespace again.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

from ..claim import OutputKind, writes_file
from ..classify_files import ClassifyOptions
from ..errors import UsageError
from ..files import input_format
from ..load_options import LoadOptions
from .options import load_options

__all__ = ["RAY_FORMATS", "ClassifyRequest", "RayOptions", "classify_request"]

RAY_FORMATS = ("parquet", "jsonl", "csv", "tsv")


@dataclass(frozen=True)
class RayOptions:
    """``--ray``, ``--address``, ``--actors``: where and on how many model replicas a cluster run goes;
    ``verbose`` (``-v``): Ray's own logs reach the terminal."""

    ray: bool = False
    address: str | None = None
    actors: int | None = None
    verbose: bool = False


@dataclass(frozen=True)
class ClassifyRequest:
    """One ``probe-runtime classify`` run. ``ray`` is None for a run on this machine."""

    model: str
    inputs: tuple[str, ...]
    out: str | None
    options: ClassifyOptions
    load: LoadOptions
    ray: RayOptions | None = None

    @property
    def output_kind(self) -> OutputKind:
        """What ``out`` is: a prediction file, or with ``--ray`` a directory of part files."""
        return OutputKind.FILE if self.ray is None else OutputKind.DIRECTORY

    @property
    def writes_file(self) -> bool:
        """Does ``out`` name a file (not stdout)?"""
        return writes_file(self.out)


def classify_request(args: argparse.Namespace) -> ClassifyRequest:
    """The request the command line makes (a bad option value: ``UsageError``, before any work)."""
    wants_ray = bool(args.ray or args.address or args.actors)
    verbose = bool(getattr(args, "verbose", False))
    ray = RayOptions(args.ray, args.address, args.actors, verbose) if wants_ray else None
    if ray is not None and args.spinning is not None:
        raise UsageError("--spin/--no-spin is not available with --ray (Ray actors run one thread each by default)")
    options = ClassifyOptions(
        text_column=args.text_column,
        id_column=args.id_column,
        input_format=args.input_format,
        errors=args.errors,
        out_format=args.format,
        all_scores=args.all_scores,
        top_k=args.top_k,
        label_separator=args.label_separator,
        window_rows=args.window_rows,
        resume=args.resume,
        overwrite=args.overwrite,
    )
    request = ClassifyRequest(args.model, tuple(args.inputs), args.out, options, load_options(args), ray)
    if ray is None:
        _check_local(request)
    else:  # a run on Ray has its own rules
        _check_ray(request)
    return request


def _check_ray(request: ClassifyRequest) -> None:
    """What a run on Ray cannot do (`UsageError`), before any work."""

    def fail(message: str) -> None:
        raise UsageError(message)

    options = request.options
    if request.ray is None or not request.ray.ray:
        fail("--address and --actors need --ray")
    if not request.out or request.out == "-":
        fail("--ray needs --out DIR (a directory for the part files)")
    if "-" in request.inputs:
        fail("--ray needs file inputs: stdin cannot be read on a cluster")
    if options.resume:
        fail("--resume is not available with --ray; an interrupted run leaves nothing under --out: run it again")
    if options.top_k:
        fail("--top-k is not available with --ray yet; --all-scores writes every label's score")
    if options.out_format not in (None, *RAY_FORMATS):
        fail(f"--format {options.out_format} is not available with --ray; choose one of {', '.join(RAY_FORMATS)}")


def _check_local(request: ClassifyRequest) -> None:
    """Mistakes in how the command was called: `UsageError` (exit 2, one line), before any work."""

    def fail(message: str) -> None:
        raise UsageError(message)

    options, inputs, out = request.options, request.inputs, request.out
    if inputs.count("-") > 1:
        fail("stdin (-) can be read only once")
    if options.resume and not request.writes_file:
        fail("--resume needs --out FILE (there is nothing to resume on stdout)")
    if options.resume and "-" in inputs:
        fail("--resume needs file inputs: stdin cannot be read again from where it stopped")
    if options.out_format == "parquet":
        fail("--format parquet needs --ray (a local run writes jsonl, csv or tsv)")
    if options.overwrite and not request.writes_file:
        fail("--overwrite needs --out FILE")
    if options.id_column:
        plain = [p for p in inputs if input_format(p, options.input_format) in ("text", "dir")]
        if plain:
            fail(f"--id-column needs CSV/TSV/JSONL inputs, but {plain[0]} is read as plain text")
    if out and request.writes_file and Path(out).is_dir():
        fail(f"--out {out} is a directory; name a file such as {Path(out) / 'predictions.jsonl'}")
