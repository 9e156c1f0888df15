"""`probe train`'s run: one `TrainJob` (built from the command line by `cli.train_job`) through its stages in
order, each handed what the one before produced: guard the output, read the data, choose the layer
(``--layer auto``), load the encoder, train, save, print the report.

What the run prints is here; what it computes is in the library (`training.train`, `model_dir.save_trained`).
"""

from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from probe_runtime.guard import output_lock, refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output
from tqdm.auto import tqdm

from .checkpoint import checkpoint_dir_for, refuse_foreign_checkpoint_dir, remove_checkpoints
from .cli_options import show_progress
from .data import Dataset, align_labels, holdout_split, load_dataset, weight_summary
from .decision_options import format_decisions
from .embedding_cache import EmbeddingCache
from .encoder import Encoder, check_layer, load_encoder
from .finetune_records import EpochResult
from .layers_cli import auto_layer
from .metrics import format_report
from .model_dir import KIND, TrainedModel, is_trained_model_dir, save_trained
from .multilabel.training_cli import is_multilabel_job, run_multilabel_train
from .records import RunSettings
from .requests import TrainJob
from .settings import FinetuneSettings, ProbeSettings
from .static_encoder import StaticTable
from .static_training import static_table
from .training import TrainRequest, train

__all__ = ["run_train"]


def run_train(job: TrainJob) -> int:
    """Every check on the output first (nothing of the user's is at risk), then the run under its lock."""
    out = _guard_train_output(job)
    with output_lock(out):
        if is_multilabel_job(job):  # several labels per text: its own run (probe_train.multilabel)
            return run_multilabel_train(job)
        train_data, test = _read(job)
        settings = _layer_chosen(job, train_data)
        # Loaded (and --max-length/--layer checked against it) before the first progress line, so a bad
        # encoder or option is the one line the user sees.
        encoder = load_encoder(settings.model, settings.max_length)
        check_layer(encoder, settings.layer)
        table = _static_table(job, encoder)
        print(_training_line(job, settings, train_data, test), file=sys.stderr)
        request = TrainRequest(train_data, encoder, settings, test=test, show_progress=show_progress(), static=table)
        finetuning = isinstance(settings, FinetuneSettings)
        trained = _finetune(job, request) if finetuning and table is None else _probe(job, request)
        saved = save_trained(trained, job.out, encoder=encoder, overwrite=job.overwrite)
        if finetuning and table is None:
            remove_checkpoints(checkpoint_dir_for(job.out))
        _print_report(trained, test, Path(saved))
    return 0


def _static_table(job: TrainJob, encoder: Encoder) -> StaticTable | None:
    """``--encoder static``: the encoder's static table, from the cache or distilled now (one line says which)."""
    if job.static is None:
        return None
    job.static.check(encoder)  # --static-dims against the encoder, before minutes of distilling
    print(
        f"static encoder: {job.static.dims} dimensions distilled from {encoder.name} "
        f"({len(encoder.tokenizer)} tokens; kept in the cache after the first run)",
        file=sys.stderr,
    )
    return static_table(encoder, job.static, cache=job.cache, show_progress=show_progress())


def _guard_train_output(job: TrainJob) -> Path:
    inputs = {"training data": job.data, "test data": job.test, "encoder": job.encoder_dir}
    refuse_output_over_inputs(job.out, inputs)
    refuse_unwritable_output(job.out)
    refuse_existing_output(job.out, overwrite=job.overwrite, is_own_kind=is_trained_model_dir, kind=KIND)
    if isinstance(job.settings, FinetuneSettings) and job.static is None:
        checkpoints = checkpoint_dir_for(job.out)
        refuse_output_over_inputs(checkpoints, inputs, flag="the checkpoint directory")
        refuse_foreign_checkpoint_dir(checkpoints)
    return job.out


def _read(job: TrainJob) -> tuple[Dataset, Dataset]:
    """The training data and the test data: ``job.test``'s file, or a held-out split of the training file."""
    c = job.columns
    data = load_dataset(job.data, c.text, c.label, weight_column=c.weight)
    if job.test:
        return data, align_labels(load_dataset(job.test, c.text, c.label, 1), data.labels)
    return holdout_split(data, job.test_size, job.settings.seed)


def _layer_chosen(job: TrainJob, train_data: Dataset) -> ProbeSettings:
    """The settings, with the layer (and pooling) the sweep recommends under ``--layer auto``.

    Neither --normalize nor --no-normalize: left to the training's own cross-validated choice, the same
    rule on the same folds as the sweep's (so the same answer), recorded with both CV accuracies."""
    if job.sweep is None:
        return job.settings
    chosen = auto_layer(job.sweep, train_data)
    return replace(job.settings, layer=chosen.layer, pooling=chosen.pooling)


def _training_line(job: TrainJob, settings: ProbeSettings, train_data: Dataset, test: Dataset) -> str:
    weighted = ""
    if train_data.weights is not None:
        facts = weight_summary(train_data.weights)
        weighted = f", weighted by column {job.columns.weight!r} (total {facts['sum']:g}, {facts['zero']} at 0)"
    return (
        f"training ({settings.method.value}) on {len(train_data)} examples ({len(train_data.labels)} labels: "
        f"{train_data.labels}){weighted}; evaluating on {len(test)} from {test.source}"
    )


def _probe(job: TrainJob, request: TrainRequest) -> TrainedModel:
    """`train` with the cross-validation's progress bar; then how the L2 normalisation was decided."""
    with tqdm(desc="choosing C by cross-validation", unit=" folds", disable=not show_progress(), leave=False) as bar:

        def on_fold(done: int, total: int) -> None:
            bar.total = total
            bar.update(1)

        cache = EmbeddingCache() if job.cache else None
        trained = train(replace(request, cache=cache, on_fold=on_fold))
    print(_normalisation_line(trained.settings), file=sys.stderr)
    return trained


def _normalisation_line(recorded: RunSettings) -> str:
    """How the probe's L2 normalisation was decided, in one line (the report records the same)."""
    line = f"L2 normalisation: {'yes' if recorded.normalize else 'no'}"
    raw, l2 = recorded.cv_accuracy_raw, recorded.cv_accuracy_l2
    if recorded.normalize_chosen_by == "cross-validation" and raw is not None and l2 is not None:
        return f"{line} (chosen by 5-fold CV accuracy on the training data: raw {100 * raw:.2f} %, L2 {100 * l2:.2f} %)"
    return f"{line} (as set)"


def _print_epoch(result: EpochResult) -> None:
    """One line per epoch on stderr, so progress shows even when stderr is a log file, not a TTY."""
    line = f"epoch {result.epoch}/{result.epochs}: train loss {result.train_loss:.4f}"
    if result.validation is not None:
        v = result.validation
        line += f", validation loss {v.loss:.4f} accuracy {v.accuracy:.4f} macro-F1 {v.macro_f1:.4f}"
        line += " (best so far)" if result.improved else f" (best: epoch {result.best_epoch})"
    line += f"; {result.seconds:.0f} s"
    if result.stopping:
        line += "; no improvement for --patience epochs: stopping early"
    elif result.epoch < result.epochs:
        line += f", about {result.eta_seconds / 60:.1f} min left"
    print(line, file=sys.stderr, flush=True)


def _finetune(job: TrainJob, request: TrainRequest) -> TrainedModel:
    """`train` with the checkpoint directory, per-epoch lines, and what to do after an interruption."""
    checkpoints = checkpoint_dir_for(job.out)
    if job.resume:
        print(f"resuming from the checkpoint in {checkpoints}/", file=sys.stderr)
    elif checkpoints.exists():
        print(
            f"note: starting over; this replaces the checkpoint in {checkpoints}/ (--resume continues it)",
            file=sys.stderr,
        )
    try:
        return train(replace(request, checkpoint_dir=checkpoints, resume=job.resume, on_epoch=_print_epoch))
    except KeyboardInterrupt:
        if checkpoints.is_dir():
            print(f"the same command with --resume continues from the checkpoint in {checkpoints}/", file=sys.stderr)
        raise


def _print_report(trained: TrainedModel, test: Dataset, out: Path) -> None:
    """The held-out figures, the decisions' effect, where the model is and the next command (stdout)."""
    print(format_report(trained.report, f"held-out evaluation ({test.source})"))
    decisions = format_decisions(trained.report, out)
    if decisions:
        print(decisions)
    print(
        f"\nsaved the trained model to {out}/ (report: {out}/report.json); "
        f"next: probe export {out} --out {out.with_suffix('.onnx')}"
    )
