"""Fine-tuning: train the encoder and a linear head end to end.

One small explicit loop rather than transformers' ``Trainer``, deliberately:

- training batches come from the runtime's own tokenize/sort/pad path (``text_encoder``), so the
  model is trained on exactly the inputs the exported artifact will be fed; ``Trainer`` wants its
  own datasets and collators for that;
- ``Trainer`` needs ``accelerate``, a dependency (and a moving target) we do not otherwise have;
- resuming must reproduce the uninterrupted run exactly (same batches, same dropout masks), which is
  easy to guarantee for a loop this size and easy to test.

The parts worth not writing ourselves come from the libraries: ``torch.optim.AdamW``,
``transformers.get_linear_schedule_with_warmup``, ``torch.nn.utils.clip_grad_norm_``, tqdm.

Checkpoints for ``--resume`` live in one file, ``<checkpoint dir>/last.pt`` (by default the model
directory's sibling ``<out>.checkpoint/``), replaced atomically. It holds the model, optimizer,
scheduler and RNG states, the position (epoch, batch, step), the best weights so far and the
early-stopping state, so an interrupted run continues exactly where it stopped. A marker file beside
it says probe made the directory: probe writes into, and removes, only a checkpoint directory it
recognises as its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import logging
import tempfile
import time
from collections.abc import Callable, Iterator
from dataclasses import asdict, dataclass, field, replace
from pathlib import Path
from typing import Any

import numpy as np
import torch
from probe_runtime.atomic import atomic_path
from probe_runtime.errors import UsageError
from probe_runtime.guard import refuse_existing_output
from tqdm.auto import tqdm

from .data import Dataset, holdout_split
from .embeddings import embed_texts, text_encoder
from .encoder import Encoder, check_layer, load_encoder
from .errors import DataError, ProbeError
from .metrics import evaluate
from .model_dir import ENCODER_DIR, KIND, TrainedModel, is_trained_model_dir, sample_texts, save_trained
from .pooling import pool, select_hidden
from .training import ProbeSettings

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_MARKER",
    "EpochResult",
    "FinetuneResult",
    "FinetuneSettings",
    "checkpoint_dir_for",
    "claim_checkpoint_dir",
    "finetune",
    "head_probabilities",
    "is_checkpoint_dir",
    "refuse_foreign_checkpoint_dir",
    "remove_checkpoints",
    "save_finetuned",
    "split_validation",
    "train_finetune",
]

log = logging.getLogger(__name__)

CHECKPOINT_FILE = "last.pt"
CHECKPOINT_FORMAT = 1
CHECKPOINT_MARKER = "probe-checkpoint.json"
_MARKER = {"format": "probe-finetune-checkpoint", "version": 1}
# Texts are shuffled, then sorted by length within windows of this many batches: batches of similar
# length waste little on padding, while every epoch still sees a different mix.
SORT_WINDOW_BATCHES = 32


@dataclass(frozen=True)
class FinetuneSettings(ProbeSettings):
    """The probe's settings plus the optimisation ones; defaults suit MiniLM on a few thousand texts."""

    batch_size: int = 16
    epochs: int = 5
    learning_rate: float = 5e-5
    weight_decay: float = 0.01
    warmup_ratio: float = 0.1
    max_grad_norm: float = 1.0
    validation_size: float = 0.1
    patience: int = 2
    checkpoint_every: int = 100

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs < 1:
            raise UsageError(f"--epochs must be at least 1, not {self.epochs}")
        if not self.learning_rate > 0:
            raise UsageError(f"--learning-rate must be positive, not {self.learning_rate}")
        if not 0 <= self.validation_size < 1:
            raise UsageError(f"--validation-size must be in [0, 1), not {self.validation_size}")
        if not 0 <= self.warmup_ratio < 1:
            raise UsageError(f"the warm-up fraction must be in [0, 1), not {self.warmup_ratio}")
        if self.patience < 1:
            raise UsageError(f"--patience must be at least 1, not {self.patience}")


@dataclass(frozen=True)
class EpochResult:
    """What happened in one epoch; handed to ``on_epoch`` so a CLI can print it."""

    epoch: int
    epochs: int
    train_loss: float
    validation: dict[str, float]
    best_epoch: int
    improved: bool
    seconds: float
    eta_seconds: float
    stopping: bool


@dataclass
class FinetuneResult:
    """The fine-tuned head (the encoder was trained in place) and the epoch history."""

    weight: np.ndarray
    bias: np.ndarray
    history: list[dict[str, Any]] = field(default_factory=list)
    best_epoch: int = 0
    steps: int = 0
    resumed_from: int | None = None


class _Classifier(torch.nn.Module):
    """Encoder → pooling → linear head, giving logits; the export wraps the same pieces with softmax."""

    def __init__(self, encoder: torch.nn.Module, n_labels: int, pooling: str, layer: int):
        super().__init__()
        self.encoder = encoder
        self.pooling = pooling
        self.layer = layer
        self.head = torch.nn.Linear(int(encoder.config.hidden_size), n_labels)
        torch.nn.init.normal_(self.head.weight, std=0.02)
        torch.nn.init.zeros_(self.head.bias)

    def forward(self, feeds: dict[str, torch.Tensor]) -> torch.Tensor:
        hidden = select_hidden(self.encoder, feeds, self.layer)
        return self.head(pool(hidden, feeds["attention_mask"], self.pooling))


def checkpoint_dir_for(out: str | Path) -> Path:
    """Where ``probe train --out OUT`` keeps its checkpoints: the sibling ``OUT.checkpoint/``.

    Not inside OUT, because the model directory is swapped in atomically only once training is done.
    """
    out = Path(out)
    return out.with_name(out.name + ".checkpoint")


def _ours(name: str) -> bool:
    """A file probe writes in a checkpoint directory: the checkpoint, its marker, their atomic-write leftovers."""
    return name in (CHECKPOINT_FILE, CHECKPOINT_MARKER) or (
        name.startswith((f".{CHECKPOINT_FILE}.", f".{CHECKPOINT_MARKER}.")) and name.endswith(".partial")
    )


def is_checkpoint_dir(path: str | Path) -> bool:
    """A directory probe made for checkpoints: our marker inside, and nothing but files probe writes."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink():
        return False
    try:
        marker = json.loads((path / CHECKPOINT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return marker == _MARKER and all(_ours(entry.name) and entry.is_file() for entry in path.iterdir())


def refuse_foreign_checkpoint_dir(path: str | Path) -> None:
    """`UsageError` when ``path`` exists and is neither empty nor a checkpoint directory of ours."""
    path = Path(path)
    if not path.exists() and not path.is_symlink():
        return
    empty = path.is_dir() and not path.is_symlink() and not any(path.iterdir())
    if not empty and not is_checkpoint_dir(path):
        raise UsageError(
            f"{path} already exists and is not a checkpoint directory written by probe; probe never "
            "writes into what it did not create. Move it away or choose another --out."
        )


def claim_checkpoint_dir(path: str | Path) -> Path:
    """Make ``path`` our checkpoint directory (marker inside), or refuse one holding what probe did not write."""
    path = Path(path)
    refuse_foreign_checkpoint_dir(path)
    path.mkdir(parents=True, exist_ok=True)
    if not (path / CHECKPOINT_MARKER).is_file():
        with atomic_path(path / CHECKPOINT_MARKER) as tmp:
            tmp.write_text(json.dumps(_MARKER) + "\n", encoding="utf-8")
    return path


def _fingerprint(train: Dataset, validation: Dataset | None, settings: FinetuneSettings, base: str) -> str:
    """Identifies a run, so ``--resume`` refuses a checkpoint made with other data or settings."""
    h = hashlib.sha256()
    fixed = {k: v for k, v in asdict(settings).items() if k != "checkpoint_every"}
    h.update(json.dumps({"settings": fixed, "base": base, "labels": [str(x) for x in train.labels]}).encode())
    for data in (train, validation):
        if data is not None:
            h.update(json.dumps(data.texts).encode())
            h.update(data.y.tobytes())
    return h.hexdigest()


def _tensors(batch_feeds: dict[str, np.ndarray]) -> dict[str, torch.Tensor]:
    return {k: torch.from_numpy(v) for k, v in batch_feeds.items()}


class _Batches:
    """The seeded batch plan of every epoch, built with the runtime's tokenize/sort/pad code."""

    def __init__(self, encoder: Encoder, data: Dataset, batch_size: int, seed: int):
        self.tokens = text_encoder(encoder)
        self.encodings = self.tokens.encode(data.texts)
        self.y = data.y
        self.batch_size = batch_size
        self.seed = seed
        self.window = batch_size * SORT_WINDOW_BATCHES
        self.max_tokens = batch_size * encoder.max_length

    def per_epoch(self) -> int:
        n, w = len(self.encodings), self.window
        full, rest = divmod(n, w)
        return full * -(-w // self.batch_size) + -(-rest // self.batch_size)

    def epoch(self, epoch: int) -> list[tuple[dict[str, torch.Tensor], torch.Tensor]]:
        """Depends only on (seed, epoch), so a resumed run sees the batches it would have seen."""
        rng = np.random.default_rng([self.seed, epoch])
        order = rng.permutation(len(self.encodings))
        plan = []
        for start in range(0, len(order), self.window):
            window = order[start : start + self.window]
            for batch in self.tokens.batches([self.encodings[i] for i in window], self.batch_size, self.max_tokens):
                plan.append((_tensors(batch.feeds), torch.from_numpy(self.y[window[batch.positions]])))
        return [plan[i] for i in rng.permutation(len(plan))]

    def sorted(self) -> Iterator[tuple[np.ndarray, dict[str, torch.Tensor]]]:
        """Length-sorted batches in a fixed order, for evaluation."""
        for batch in self.tokens.batches(self.encodings, self.batch_size, self.max_tokens):
            yield batch.positions, _tensors(batch.feeds)


def _evaluate(model: _Classifier, batches: _Batches, data: Dataset) -> dict[str, float]:
    """Validation loss, accuracy and macro-F1 (the early-stopping criterion, then the loss)."""
    logits = torch.empty(len(data), model.head.out_features)
    model.eval()
    with torch.inference_mode():
        for positions, feeds in batches.sorted():
            logits[torch.from_numpy(positions)] = model(feeds).float()
    model.train()
    loss = float(torch.nn.functional.cross_entropy(logits, torch.from_numpy(data.y)))
    report = evaluate(data.y, logits.argmax(1).numpy(), data.labels)
    return {"loss": loss, "accuracy": report["accuracy"], "macro_f1": report["macro_f1"]}


def _better(candidate: dict[str, float], best: dict[str, float] | None) -> bool:
    if best is None:
        return True
    return (candidate["macro_f1"], -candidate["loss"]) > (best["macro_f1"], -best["loss"])


def _optimizer(model: torch.nn.Module, settings: FinetuneSettings) -> torch.optim.Optimizer:
    """AdamW with the usual exemption of biases and normalisation weights from weight decay."""
    decay, no_decay = [], []
    for name, param in model.named_parameters():
        (no_decay if param.ndim < 2 or "LayerNorm" in name or "norm" in name.lower() else decay).append(param)
    groups = [
        {"params": decay, "weight_decay": settings.weight_decay},
        {"params": no_decay, "weight_decay": 0.0},
    ]
    return torch.optim.AdamW(groups, lr=settings.learning_rate)


def _save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Written beside the target and renamed: an interruption never leaves a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def _load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    if not path.is_file():
        raise ProbeError(f"--resume: no checkpoint at {path}. Run the same command without --resume to start training.")
    try:
        # weights_only: tensors, numbers, strings and containers only; no arbitrary pickled objects.
        state = torch.load(path, weights_only=True)
    except Exception as exc:
        raise ProbeError(f"--resume: {path} cannot be read ({exc}); delete it and start over") from exc
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
        raise ProbeError(
            f"--resume: the checkpoint {path} was written for other data or settings. Resume with exactly "
            "the same command, or drop --resume to start over (this replaces the checkpoint)."
        )
    return state


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
    torch.manual_seed(settings.seed)
    model = _Classifier(encoder.model, len(train.labels), settings.pooling, settings.layer)
    model.train()
    batches = _Batches(encoder, train, settings.batch_size, settings.seed)
    val_batches = _Batches(encoder, validation, settings.batch_size, settings.seed) if validation else None
    per_epoch = batches.per_epoch()
    total = per_epoch * settings.epochs
    optimizer = _optimizer(model, settings)
    from transformers import get_linear_schedule_with_warmup

    scheduler = get_linear_schedule_with_warmup(optimizer, int(settings.warmup_ratio * total), total)

    fingerprint = _fingerprint(train, validation, settings, encoder.name)
    ckpt = None
    if checkpoint_dir is not None:
        if resume and not is_checkpoint_dir(checkpoint_dir):
            raise ProbeError(
                f"--resume: no checkpoint at {Path(checkpoint_dir) / CHECKPOINT_FILE}. "
                "Run the same command without --resume to start training."
            )
        ckpt = claim_checkpoint_dir(checkpoint_dir) / CHECKPOINT_FILE
    progress: dict[str, Any] = {
        "epoch": 0,
        "batch": 0,
        "step": 0,
        "loss_sum": 0.0,
        "best": None,
        "best_epoch": 0,
        "bad_epochs": 0,
        "history": [],
        "stopped": False,
    }
    best_state: dict[str, torch.Tensor] | None = None
    resumed_from = None
    if resume:
        if ckpt is None:
            raise ProbeError("--resume needs a checkpoint directory")
        state = _load_checkpoint(ckpt, fingerprint)
        model.load_state_dict(state["model"])
        optimizer.load_state_dict(state["optimizer"])
        scheduler.load_state_dict(state["scheduler"])
        torch.set_rng_state(state["torch_rng"])
        best_state = state["best_state"]
        progress = state["progress"]
        resumed_from = progress["step"]
        log.info("resuming from %s at epoch %d, step %d", ckpt, progress["epoch"] + 1, progress["step"])

    def save() -> None:
        if ckpt is not None:
            _save_checkpoint(
                ckpt,
                {
                    "format": CHECKPOINT_FORMAT,
                    "fingerprint": fingerprint,
                    "model": model.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "scheduler": scheduler.state_dict(),
                    "torch_rng": torch.get_rng_state(),
                    "best_state": best_state,
                    "progress": progress,
                },
            )

    started, start_step = time.perf_counter(), progress["step"]
    bar = tqdm(
        total=total, initial=progress["step"], desc="fine-tuning", unit=" steps", disable=not show_progress, leave=False
    )
    try:
        while progress["epoch"] < settings.epochs and not progress["stopped"]:
            epoch = progress["epoch"]
            epoch_started = time.perf_counter()
            plan = batches.epoch(epoch)
            for feeds, y in plan[progress["batch"] :]:
                loss = torch.nn.functional.cross_entropy(model(feeds), y)
                loss.backward()
                torch.nn.utils.clip_grad_norm_(model.parameters(), settings.max_grad_norm)
                optimizer.step()
                scheduler.step()
                optimizer.zero_grad(set_to_none=True)
                progress["batch"] += 1
                progress["step"] += 1
                progress["loss_sum"] += loss.item()
                bar.update(1)
                bar.set_postfix(epoch=epoch + 1, loss=f"{progress['loss_sum'] / progress['batch']:.4f}")
                mid_epoch = progress["batch"] < len(plan)  # the epoch's end is checkpointed below anyway
                if mid_epoch and settings.checkpoint_every and progress["step"] % settings.checkpoint_every == 0:
                    save()
            train_loss = progress["loss_sum"] / max(progress["batch"], 1)
            entry: dict[str, Any] = {"epoch": epoch + 1, "train_loss": train_loss}
            improved = True
            if val_batches is not None:
                scores = _evaluate(model, val_batches, validation)
                entry["validation"] = scores
                improved = _better(scores, progress["best"])
                if improved:
                    progress["best"], progress["best_epoch"], progress["bad_epochs"] = scores, epoch + 1, 0
                    best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
                else:
                    progress["bad_epochs"] += 1
                    progress["stopped"] = progress["bad_epochs"] >= settings.patience
            else:
                progress["best_epoch"] = epoch + 1
            progress["history"].append(entry)
            progress.update(epoch=epoch + 1, batch=0, loss_sum=0.0)
            save()
            done = progress["step"] - start_step
            elapsed = time.perf_counter() - started
            remaining = 0 if progress["stopped"] else total - progress["step"]
            log.info("epoch %d/%d: %s", epoch + 1, settings.epochs, entry)
            if on_epoch is not None:
                on_epoch(
                    EpochResult(
                        epoch=epoch + 1,
                        epochs=settings.epochs,
                        train_loss=train_loss,
                        validation=entry.get("validation", {}),
                        best_epoch=progress["best_epoch"],
                        improved=improved,
                        seconds=time.perf_counter() - epoch_started,
                        eta_seconds=elapsed / max(done, 1) * remaining,
                        stopping=progress["stopped"],
                    )
                )
    finally:
        bar.close()

    if best_state is not None:
        model.load_state_dict(best_state)
    model.eval()
    return FinetuneResult(
        weight=model.head.weight.detach().numpy().astype(np.float32).copy(),
        bias=model.head.bias.detach().numpy().astype(np.float32).copy(),
        history=progress["history"],
        best_epoch=progress["best_epoch"],
        steps=progress["step"],
        resumed_from=resumed_from,
    )


def head_probabilities(x: np.ndarray, weight: np.ndarray, bias: np.ndarray) -> np.ndarray:
    """softmax(x Wᵀ + b): what the exported graph computes after pooling."""
    from scipy.special import softmax

    return softmax(x.astype(np.float64) @ weight.T.astype(np.float64) + bias, axis=1)


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


def save_finetuned(
    trained: TrainedModel,
    encoder: Encoder,
    out: str | Path,
    evaluation: Dataset | None,
    *,
    overwrite: bool = False,
) -> Path:
    """Write the model directory with the fine-tuned encoder (and its tokenizer) as ``encoder/``.

    ``out`` is checked before the encoder is saved, so a refusal costs nothing (see `save_trained`).
    """
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_trained_model_dir, kind=KIND)
    with tempfile.TemporaryDirectory(prefix="probe-finetuned-") as tmp:
        encoder.model.save_pretrained(tmp)
        encoder.tokenizer.save_pretrained(tmp)
        return save_trained(trained, out, evaluation, encoder_dir=tmp, overwrite=overwrite)


def train_finetune(
    train: Dataset,
    test: Dataset,
    settings: FinetuneSettings,
    *,
    checkpoint_dir: str | Path | None = None,
    resume: bool = False,
    show_progress: bool = False,
    on_epoch: Callable[[EpochResult], None] | None = None,
    encoder: Encoder | None = None,
) -> tuple[TrainedModel, Encoder]:
    """`probe train --method finetune`: fine-tune, then report on ``test`` exactly as the probe does.

    ``encoder``: the one ``settings`` names, already loaded (it is trained in place).
    """
    started = time.perf_counter()
    if encoder is None:
        encoder = load_encoder(settings.model, settings.max_length)
    check_layer(encoder, settings.layer)
    fit, validation = split_validation(train, settings)
    result = finetune(
        encoder,
        fit,
        validation,
        settings,
        checkpoint_dir=checkpoint_dir,
        resume=resume,
        show_progress=show_progress,
        on_epoch=on_epoch,
    )
    x_test = embed_texts(encoder, test.texts, settings.pooling, settings.layer, settings.batch_size, show_progress)
    pred = head_probabilities(x_test, result.weight, result.bias).argmax(1)
    report = evaluate(test.y, pred, train.labels)
    report["train_seconds"] = round(time.perf_counter() - started, 2)
    report["n_train"] = len(fit)
    report["test_source"] = test.source
    trained = TrainedModel(
        method="finetune",
        encoder=ENCODER_DIR,
        pooling=settings.pooling,
        layer=settings.layer,
        max_length=encoder.max_length,
        labels=train.labels,
        weight=result.weight,
        bias=result.bias,
        report=report,
        settings={
            **{k: v for k, v in asdict(settings).items() if k not in ("model", "pooling", "layer", "max_length")},
            "train_source": train.source,
            "base_encoder": encoder.name,
            "n_validation": len(validation) if validation is not None else 0,
            "best_epoch": result.best_epoch,
            "steps": result.steps,
            "history": result.history,
        },
        eval_texts=test.texts,
        eval_y=test.y.tolist(),
        sample_texts=sample_texts(train.texts, settings.seed),
    )
    return trained, encoder


def remove_checkpoints(checkpoint_dir: str | Path) -> None:
    """After a successful run the checkpoint has served its purpose (it is several times the model size).

    Removes only the files probe wrote, then the directory if that left it empty: a file someone
    else put there since (or a directory that was never ours) stays where it is.
    """
    path = Path(checkpoint_dir)
    if not path.is_dir() or path.is_symlink():
        return
    try:
        marker = json.loads((path / CHECKPOINT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return
    if marker != _MARKER:
        return
    for entry in path.iterdir():
        if _ours(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: something that is not ours is in there, and stays
        path.rmdir()
