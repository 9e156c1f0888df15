"""`probe-runtime classify MODEL INPUT… --ray --out DIR`: the same classification, on a Ray cluster.

The rows are read and labelled on the cluster (`probe_runtime.ray`); the driver (this process) receives
the answers in input order and writes them as part files (`probe_runtime.ray_parts`) into a directory that
appears only when complete; an error in any input stops the run with the local run's one-line message and
leaves nothing under DIR. This module adds the options, the messages and the exit codes.

DIR is claimed like a local ``--out``, by the same `probe_runtime.claim.claim_output` (`probe_runtime.cli.classify`
does it before this runs): it may not be, be inside, or contain the model or an input; an existing DIR is
replaced only with ``--overwrite`` and only if an earlier ``--ray`` run wrote it (it holds `SUMMARY_FILE`);
two runs cannot write the same DIR at once.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from ..claim import SUMMARY_FILE, is_ray_output
from ..classifier import Classifier
from ..cli_support import positive_int
from ..errors import InputError, UsageError
from ..output import label_separator
from .classify_request import RAY_FORMATS, ClassifyRequest
from .report import describe

__all__ = ["RAY_FORMATS", "SUMMARY_FILE", "add_ray_options", "cmd_classify_ray", "is_ray_output"]


def add_ray_options(p: argparse.ArgumentParser) -> None:
    """``--ray``, ``--address`` and ``--actors`` on ``classify``."""
    group = p.add_argument_group('scale-out on Ray (pip install "probe-runtime[ray]")')
    group.add_argument(
        "--ray",
        action="store_true",
        help="classify on a Ray cluster; --out names a DIRECTORY of part files (default format parquet)",
    )
    group.add_argument(
        "--address",
        help="with --ray: the cluster to join (HOST:6379, ray://HOST:10001 or auto; default: $RAY_ADDRESS, else "
        "a cluster started on this machine, else a new local one)",
    )
    group.add_argument(
        "--actors",
        type=positive_int,
        help="with --ray: model replicas, each reserving --threads CPUs (default 1) and loading the model once "
        "(default: as many as the cluster has CPUs for)",
    )


def cmd_classify_ray(request: ClassifyRequest) -> int:
    """The run on Ray, once `classify_request` checked its usage and the CLI claimed DIR (`claim_output`)."""
    assert request.out is not None and request.ray is not None  # `classify_request` made sure
    out, options = request.out, request.options
    for path in request.inputs:
        if not Path(path).exists():
            raise InputError(f"input file not found: {path}")
    try:
        from .. import ray as probe_ray
        from ..ray_parts import columns, write_parts
    except ImportError as exc:
        raise UsageError(str(exc)) from None
    model = probe_ray.ModelSpec(str(Path(request.model).resolve()), request.load)
    clf = _checked(model)
    labels, fmt = clf.labels, options.out_format or "parquet"
    separator = label_separator(clf.decider.labels, clf.multi_label, options.label_separator, fmt)
    read = probe_ray.ReadSpec(options.text_column, options.id_column, options.input_format, options.errors)
    with probe_ray.cluster(request.ray.address, request.ray.verbose, progress_bars=sys.stderr.isatty()):
        dataset = probe_ray.label_files(
            list(request.inputs), model, read, actors=request.ray.actors, all_scores=options.all_scores
        )
        try:
            batches = dataset.iter_batches(batch_format="pyarrow", batch_size=None)
            written = columns(labels, options.all_scores, clf.multi_label)
            summary = write_parts(batches, out, fmt, written, separator)
        except KeyboardInterrupt:
            print("probe-runtime: interrupted; nothing was written under --out; run it again", file=sys.stderr)
            return 130
    print(f"{describe(summary, labels)} → {out}", file=sys.stderr)
    return 0


def _checked(model: Any) -> Classifier:
    """Open the artifact here first: a bad file or option fails in a second, before a cluster starts."""
    clf: Classifier = model.load()
    return clf
