"""Fine-tuning: train the encoder and a linear head end to end.

One small explicit loop rather than transformers' ``Trainer``, deliberately:

- training batches come from the runtime's own tokenize/sort/pad path (`finetune_batches`), so the
  model is trained on exactly the inputs the exported artifact will be fed; ``Trainer`` wants its
  own datasets and collators for that;
- ``Trainer`` needs ``accelerate``, a dependency (and a moving target) we do not otherwise have;
- resuming must reproduce the uninterrupted run exactly (same batches, same dropout masks), which is
  easy to guarantee for a loop this size and easy to test.

The parts worth not writing ourselves come from the libraries: ``torch.optim.AdamW``,
``transformers.get_linear_schedule_with_warmup``, ``torch.nn.utils.clip_grad_norm_``, tqdm.
The module trained is `ClassifierModule`, the one the export traces; checkpoints are `checkpoint`'s.
The loop's whole state is `Progress`, saved in every checkpoint, so a resumed run continues exactly.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import Checkpoint, fingerprint, open_checkpoint
from .classifier_module import ClassifierModule, Feeds, batched_forward
from .data import Dataset, holdout_split
from .encoder import Encoder
from .errors import DataError, ProbeError
from .finetune_batches import TrainingBatches
from .finetune_records import EpochRecord, EpochResult, FinetuneResult, Progress, Scores
from .finetune_speed import training_autocast, use_bf16
from .label_names import class_weights
from .metrics import evaluate
from .settings import FinetuneSettings

__all__ = [
    "FinetuneSettings",
    "finetune",
    "head_probabilities",
    "split_validation",
    "weighted_cross_entropy",
]

log = logging.getLogger(__name__)


@dataclass
class _Run:
    """Everything one fine-tuning run works on; the loop's functions share it."""

    model: ClassifierModule
    encoder: Encoder
    settings: FinetuneSettings
    batches: TrainingBatches
    validation: Dataset | None
    optimizer: torch.optim.Optimizer
    scheduler: torch.optim.lr_scheduler.LRScheduler
    checkpoint: Checkpoint | None
    total_steps: int
    progress: Progress = field(default_factory=Progress)
    best_state: dict[str, torch.Tensor] | None = None
    started: float = field(default_factory=time.perf_counter)
    start_step: int = 0
    class_weight: torch.Tensor | None = None  # the loss weight of each class (None: all 1)
    bf16: bool = False  # training forward passes under bf16 autocast (finetune_speed)


def _optimizer(model: torch.nn.Module, settings: FinetuneSettings) -> torch.optim.Optimizer:
    """AdamW with the usual exemption of biases and normalisation weights from weight decay."""
    decay: list[torch.nn.Parameter] = []
    no_decay: list[torch.nn.Parameter] = []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "norm" in name.lower() else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.learning_rate)


def _evaluate(run: _Run, data: Dataset) -> Scores:
    """Validation loss, accuracy and macro-F1, batched like every other forward pass."""
    model = run.model
    model.eval()
    width = model.head.out_features
    logits = batched_forward(run.encoder, data.texts, model.logits, width, run.settings.batch_size)
    model.train()
    loss = float(torch.nn.functional.cross_entropy(torch.from_numpy(logits), torch.from_numpy(data.y)))
    report = evaluate(data.y, logits.argmax(1), data.labels)
    return Scores(loss=loss, accuracy=report["accuracy"], macro_f1=report["macro_f1"])


def _save(run: _Run) -> None:
    if run.checkpoint is not None:
        run.checkpoint.save(
            {
                "model": run.model.state_dict(),
                "optimizer": run.optimizer.state_dict(),
                "scheduler": run.scheduler.state_dict(),
                "torch_rng": torch.get_rng_state(),
                "best_state": run.best_state,
                "progress": run.progress.as_dict(),
            }
        )


def _resume(run: _Run) -> int:
    """Restore the run from its checkpoint; returns the step it continues from."""
    if run.checkpoint is None:  # open_checkpoint(resume=True) returns one or raises; this is for the type
        raise ProbeError("--resume needs a checkpoint directory")
    state = run.checkpoint.load()
    run.model.load_state_dict(state["model"])
    run.optimizer.load_state_dict(state["optimizer"])
    run.scheduler.load_state_dict(state["scheduler"])
    torch.set_rng_state(state["torch_rng"])
    run.best_state = state["best_state"]
    run.progress = Progress.from_dict(state["progress"])
    run.start_step = run.progress.step
    log.info("resuming from %s at epoch %d, step %d", run.checkpoint.path, run.progress.epoch + 1, run.progress.step)
    return run.progress.step


def weighted_cross_entropy(
    logits: torch.Tensor, y: torch.Tensor, class_weight: torch.Tensor | None, weights: torch.Tensor | None
) -> torch.Tensor:
    """Cross-entropy, the mean weighted by class weights and (``--weight-column``) by each row's weight:
    sum(w_i c_{y_i} loss_i) / sum(w_i c_{y_i}), which is PyTorch's own weighted mean when every w_i is 1
    (and exactly it, the same call, without row weights). A batch whose rows all weigh 0 contributes 0."""
    if weights is None:
        return torch.nn.functional.cross_entropy(logits, y, weight=class_weight)
    per_row = torch.nn.functional.cross_entropy(logits, y, weight=class_weight, reduction="none")
    scale = weights if class_weight is None else weights * class_weight[y]
    return (per_row * weights).sum() / scale.sum().clamp_min(torch.finfo(scale.dtype).tiny)


def _step(run: _Run, feeds: Feeds, y: torch.Tensor, weights: torch.Tensor | None = None) -> None:
    """One optimizer step on one batch."""
    with training_autocast(run.bf16):
        logits = run.model.logits(feeds)
    loss = weighted_cross_entropy(logits.float(), y, run.class_weight, weights)
    loss.backward()
    torch.nn.utils.clip_grad_norm_(run.model.parameters(), run.settings.max_grad_norm)
    run.optimizer.step()
    run.scheduler.step()
    run.optimizer.zero_grad(set_to_none=True)
    run.progress.batch += 1
    run.progress.step += 1
    run.progress.loss_sum += loss.item()


def _train_epoch(run: _Run, bar: tqdm) -> None:
    """The current epoch's remaining batches, with a checkpoint every ``checkpoint_every`` steps."""
    progress, every = run.progress, run.settings.checkpoint_every
    plan = run.batches.epoch(progress.epoch)
    for feeds, y, weights in plan[progress.batch :]:
        _step(run, feeds, y, weights)
        bar.update(1)
        bar.set_postfix(epoch=progress.epoch + 1, loss=f"{progress.mean_loss:.4f}")
        mid_epoch = progress.batch < len(plan)  # the epoch's end is checkpointed by the caller anyway
        if mid_epoch and every and progress.step % every == 0:
            _save(run)


def _close_epoch(run: _Run) -> tuple[EpochRecord, bool]:
    """Score the epoch, keep the best weights, decide on early stopping; returns (record, improved)."""
    progress = run.progress
    record = EpochRecord(progress.epoch + 1, progress.mean_loss)
    improved = True
    if run.validation is None:
        progress.best_epoch = progress.epoch + 1
    else:
        scores = _evaluate(run, run.validation)
        record = replace(record, validation=scores)
        improved = scores.beats(progress.best)
        if improved:
            progress.best, progress.best_epoch, progress.bad_epochs = scores, progress.epoch + 1, 0
            run.best_state = {k: v.detach().clone() for k, v in run.model.state_dict().items()}
        else:
            progress.bad_epochs += 1
            progress.stopped = progress.bad_epochs >= run.settings.patience
    progress.history.append(record)
    progress.epoch, progress.batch, progress.loss_sum = progress.epoch + 1, 0, 0.0
    return record, improved


def _run_epoch(run: _Run, bar: tqdm) -> EpochResult:
    epoch_started = time.perf_counter()
    _train_epoch(run, bar)
    record, improved = _close_epoch(run)
    _save(run)
    progress = run.progress
    done = progress.step - run.start_step
    remaining = 0 if progress.stopped else run.total_steps - progress.step
    log.info("epoch %d/%d: %s", record.epoch, run.settings.epochs, record.as_dict())
    return EpochResult(
        epoch=record.epoch,
        epochs=run.settings.epochs,
        train_loss=record.train_loss,
        validation=record.validation,
        best_epoch=progress.best_epoch,
        improved=improved,
        seconds=time.perf_counter() - epoch_started,
        eta_seconds=(time.perf_counter() - run.started) / max(done, 1) * remaining,
        stopping=progress.stopped,
    )


def _start(
    encoder: Encoder,
    train: Dataset,
    validation: Dataset | None,
    settings: FinetuneSettings,
    checkpoint_dir: str | Path | None,
    resume: bool,
) -> _Run:
    """The model with a new head, the batches, the optimizer and schedule, and the run's checkpoint."""
    from transformers import get_linear_schedule_with_warmup

    bf16 = use_bf16()  # first: a bad PROBE_FINETUNE_BF16 stops the run before anything is written
    torch.manual_seed(settings.seed)
    model = ClassifierModule.with_new_head(
        encoder, len(train.labels), settings.pooling, settings.layer, bool(settings.normalize)
    )
    model.train()
    batches = TrainingBatches(encoder, train, settings.batch_size, settings.seed)
    total = batches.per_epoch() * settings.epochs
    optimizer = _optimizer(model, settings)
    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total), total)
    run_id = fingerprint(train, validation, settings, encoder.name)
    checkpoint = open_checkpoint(checkpoint_dir, run_id, resume=resume)
    run = _Run(model, encoder, settings, batches, validation, optimizer, scheduler, checkpoint, total)
    weights = class_weights(settings.class_weight, train.labels, train.y)
    run.class_weight = None if weights is None else torch.tensor(weights, dtype=torch.float32)
    run.bf16 = bf16
    log.info("training forward passes in %s", "bf16 autocast" if run.bf16 else "fp32")
    return run


def finetune(
    encoder: Encoder,
    train: Dataset,
    validation: Dataset | None,
    settings: FinetuneSettings,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    show_progress: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
) -> FinetuneResult:
    """Fine-tune ``encoder.model`` in place with a linear head; returns the head and the history.

    With ``validation``, every epoch is scored on it, training stops after ``patience`` epochs
    without improvement and the best epoch's weights are restored. Without it, all epochs run and
    the last weights are kept.
    """
    run = _start(encoder, train, validation, settings, checkpoint_dir, resume)
    resumed_from = _resume(run) if resume else None
    run.started = time.perf_counter()
    with tqdm(
        total=run.total_steps,
        initial=run.progress.step,
        desc="fine-tuning",
        unit=" steps",
        disable=not show_progress,
        leave=False,
    ) as bar:
        while run.progress.epoch < settings.epochs and not run.progress.stopped:
            result = _run_epoch(run, bar)
            if on_epoch is not None:
                on_epoch(result)
    if run.best_state is not None:
        run.model.load_state_dict(run.best_state)
    run.model.eval()
    weight, bias = run.model.head_arrays()
    return FinetuneResult(
        weight=weight,
        bias=bias,
        history=run.progress.history,
        best_epoch=run.progress.best_epoch,
        steps=run.progress.step,
        resumed_from=resumed_from,
    )


def head_probabilities(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, temperature: float = 1.0) -> np.ndarray:
    """softmax((x Wᵀ + b) / T): what the exported graph computes after pooling (T: the fitted temperature)."""
    from scipy.special import softmax

    logits = x.astype(np.float64) @ weight.T.astype(np.float64) + bias
    result: np.ndarray = softmax(logits / temperature, axis=1)
    return result


def split_validation(train: Dataset, settings: FinetuneSettings) -> tuple[Dataset, Dataset | None]:
    """The early-stopping split: seeded and stratified, always carved out of the training data."""
    if settings.validation_size == 0:
        return train, None
    try:
        fit, validation = holdout_split(train, settings.validation_size, settings.seed)
    except DataError as exc:
        raise DataError(
            f"{exc} (while holding out --validation-size {settings.validation_size} for early stopping; "
            "--validation-size 0 trains without a validation split)"
        ) from None
    return (
        replace(fit, source=f"{train.source} (fine-tuning split)"),
        replace(validation, source=f"{train.source} (validation split)"),
    )
