"""`probe layers DATA [--test TEST] [--out DIR]`, and `probe train --layer auto`: the sweep's command line.

The library (`layers`) measures; this module shows progress, prints the table, writes the results
directory (``layers.json`` + ``layers.png``, atomically, replacing only an earlier sweep's with
``--overwrite``) and turns a sweep into the settings `probe train --layer auto` trains with.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable
from pathlib import Path

from probe_runtime.atomic import atomic_dir
from probe_runtime.guard import output_lock, refuse_existing_output, refuse_output_over_inputs
from tqdm.auto import tqdm

from .cli_options import add_cache_option, add_data_options, at_least, flags_shown
from .data import Dataset, align_labels, load_dataset
from .embedding_cache import EmbeddingCache
from .embeddings import use_fast_attention
from .encoder import load_encoder
from .layers import DEFAULT_TOLERANCE, PLOT, PLOT_INSTALL, RESULTS, LayerScore, Sweep, is_sweep_dir, plot_sweep
from .layers import sweep_layers as run_sweep
from .pooling import Pooling
from .requests import SweepRequest

__all__ = ["add_layers_command", "auto_layer", "sweep_request"]

KIND = "layer sweep directory"


def _progress(total_hint: str) -> tuple[tqdm, Callable[[int, int, LayerScore], None]]:
    bar = tqdm(desc=total_hint, unit=" probes", disable=not sys.stderr.isatty(), leave=False)

    def on_score(done: int, total: int, score: LayerScore) -> None:
        bar.total = total
        bar.update(1)
        bar.set_postfix_str(f"layer {score.layer} {score.name}: CV {100 * score.cv_accuracy:.2f}")

    return bar, on_score


def sweep_for(request: SweepRequest, train: Dataset, test: Dataset | None) -> Sweep:
    """The sweep ``request`` asks for, with progress on stderr (a bar on a terminal)."""
    encoder = load_encoder(request.model, request.max_length)
    use_fast_attention(encoder)
    print(
        f"sweeping {encoder.model.config.num_hidden_layers + 1} layers x {len(request.poolings)} poolings x "
        f"{len(request.normalize)} normalisations of {encoder.name} on {len(train)} texts",
        file=sys.stderr,
    )
    bar, on_score = _progress("probing layers")
    with bar:
        return run_sweep(
            encoder,
            train,
            test,
            poolings=list(request.poolings),
            normalize=list(request.normalize),
            tolerance=request.tolerance,
            batch_size=request.batch_size,
            seed=request.seed,
            cache=EmbeddingCache() if request.cache else None,
            show_progress=sys.stderr.isatty(),
            on_score=on_score,
        )


def auto_layer(request: SweepRequest, train: Dataset) -> LayerScore:
    """`--layer auto`: the sweep's recommendation on the training data (CV only: the test set stays unseen).

    An explicit ``--pooling`` or ``--normalize/--no-normalize`` is kept (the request sweeps it alone) and only
    the layer is chosen.
    """
    sweep = sweep_for(request, train, None)
    r = sweep.recommended
    print(
        f"--layer auto: layer {r.layer} of {sweep.n_layers}, pooling {r.pooling}"
        f"{', L2-normalised' if r.normalize else ''} (CV accuracy {100 * r.cv_accuracy:.2f} ± {100 * r.cv_spread:.2f}; "
        f"best {100 * sweep.best.cv_accuracy:.2f} at layer {sweep.best.layer})",
        file=sys.stderr,
    )
    return r


def sweep_request(args: argparse.Namespace, poolings: list[str], normalize: list[bool]) -> SweepRequest:
    """The sweep the command line asks for (`probe layers`, or `probe train --layer auto`), read once."""
    return SweepRequest(
        model=args.model,
        max_length=args.max_length,
        batch_size=args.batch_size or 32,
        seed=args.seed,
        cache=not getattr(args, "no_cache", False),
        tolerance=getattr(args, "tolerance", DEFAULT_TOLERANCE),
        poolings=tuple(poolings),
        normalize=tuple(normalize),
    )


def _guard(args: argparse.Namespace) -> Path | None:
    if args.out is None:
        return None
    out = Path(args.out)
    refuse_output_over_inputs(out, {"training data": args.data, "test data": args.test})
    refuse_existing_output(out, overwrite=args.overwrite, is_own_kind=is_sweep_dir, kind=KIND)
    return out


def cmd_layers(args: argparse.Namespace) -> int:
    with flags_shown():
        return _layers(args)


def _layers(args: argparse.Namespace) -> int:
    out = _guard(args)
    if out is not None and not args.no_plot:
        try:
            import matplotlib  # noqa: F401  (checked before the work, not after it)
        except ImportError:
            from .errors import ProbeError

            raise ProbeError(f"the layer plot needs matplotlib: {PLOT_INSTALL}; or pass --no-plot") from None
    train = load_dataset(args.data, args.text_column, args.label_column)
    test = (
        align_labels(load_dataset(args.test, args.text_column, args.label_column, 1), train.labels)
        if args.test
        else None
    )
    sweep = sweep_for(sweep_request(args, list(Pooling.values()), [False, True]), train, test)
    from .layers import table_lines

    print("\n".join(table_lines(sweep)))
    if out is not None:
        with output_lock(out):
            _write(sweep, out, args)
        print(f"wrote {out / RESULTS}" + ("" if args.no_plot else f" and {out / PLOT}"))
    return 0


def _write(sweep: Sweep, out: Path, args: argparse.Namespace) -> None:
    with atomic_dir(out) as staging:
        data = sweep.to_json_dict()
        data.update(train_source=args.data, test_source=args.test)
        (staging / RESULTS).write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
        if not args.no_plot:
            plot_sweep(sweep, staging / PLOT)
        # Re-checked at the last moment: another run may have written `out` meanwhile.
        refuse_existing_output(out, overwrite=args.overwrite, is_own_kind=is_sweep_dir, kind=KIND)


def add_layers_command(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "layers",
        help="probe every layer and pooling of the encoder: where does the task live?",
        description="Run the encoder once over DATA (and --test), keep every layer's hidden states pooled "
        "cls/mean/max with and without L2 normalisation, fit the cross-validated probe on each, print a table "
        "and recommend the earliest layer within --tolerance points of the best CV accuracy "
        "(`probe train --layer auto` trains on it; `probe export` then keeps only the layers it needs).",
    )
    p.add_argument("data", help="labelled training data (.csv, .tsv or .jsonl)")
    p.add_argument("--test", help="labelled test file: its accuracy is shown too (the recommendation reads CV only)")
    p.add_argument("--out", "-o", help=f"directory to write {RESULTS} and {PLOT} to (default: print only)")
    p.add_argument("--overwrite", action="store_true", help="replace --out if an earlier `probe layers` wrote it")
    p.add_argument("--no-plot", action="store_true", help=f"write {RESULTS} only (no matplotlib needed)")
    p.add_argument(
        "--tolerance",
        type=float,
        default=DEFAULT_TOLERANCE,
        help=f"accuracy points an earlier layer may trail the best by (default {DEFAULT_TOLERANCE})",
    )
    p.add_argument("--model", "-m", default=None, help="encoder (as for `probe train`; default: minilm)")
    p.add_argument("--max-length", type=at_least(2), default=None, help="tokens per text (default: the encoder's)")
    p.add_argument("--batch-size", type=at_least(1), default=32, help="texts per batch (default 32)")
    p.add_argument("--seed", type=int, default=0, help="seed for the cross-validation folds (default 0)")
    add_data_options(p)
    add_cache_option(p)
    p.set_defaults(func=cmd_layers)
