"""Fine-tuning checkpoints for ``--resume``: where they live, whose they are, writing and reading them.

One file, ``<checkpoint dir>/last.pt`` (by default the model directory's sibling ``<out>.checkpoint/``),
replaced atomically. It holds whatever state the training loop hands over (model, optimizer,
scheduler and RNG states, the loop's position, the best weights so far) plus a fingerprint of the
data and settings, so ``--resume`` refuses a checkpoint of another run. A marker file beside it says
probe made the directory: probe writes into, and removes, only a checkpoint directory it recognises
as its own.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from probe_runtime.atomic import atomic_path
from probe_runtime.errors import UsageError

from .data import Dataset
from .errors import ProbeError
from .settings import FinetuneSettings

__all__ = [
    "CHECKPOINT_FILE",
    "CHECKPOINT_FORMAT",
    "CHECKPOINT_MARKER",
    "Checkpoint",
    "checkpoint_dir_for",
    "claim_checkpoint_dir",
    "fingerprint",
    "is_checkpoint_dir",
    "load_checkpoint",
    "open_checkpoint",
    "refuse_foreign_checkpoint_dir",
    "remove_checkpoints",
    "save_checkpoint",
]

CHECKPOINT_FILE = "last.pt"
CHECKPOINT_FORMAT = 1
CHECKPOINT_MARKER = "probe-checkpoint.json"
_MARKER = {"format": "probe-finetune-checkpoint", "version": 1}


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


def _has_our_marker(path: Path) -> bool:
    try:
        marker = json.loads((path / CHECKPOINT_MARKER).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return False
    return bool(marker == _MARKER)


def is_checkpoint_dir(path: str | Path) -> bool:
    """A directory probe made for checkpoints: our marker inside, and nothing but files probe writes."""
    path = Path(path)
    if not path.is_dir() or path.is_symlink() or not _has_our_marker(path):
        return False
    return all(_ours(entry.name) and entry.is_file() for entry in path.iterdir())


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


def remove_checkpoints(checkpoint_dir: str | Path) -> None:
    """After a successful run the checkpoint has served its purpose (it is several times the model size).

    Removes only the files probe wrote, then the directory if that left it empty: a file someone
    else put there since (or a directory that was never ours) stays where it is.
    """
    path = Path(checkpoint_dir)
    if not path.is_dir() or path.is_symlink() or not _has_our_marker(path):
        return
    for entry in path.iterdir():
        if _ours(entry.name) and entry.is_file() and not entry.is_symlink():
            entry.unlink(missing_ok=True)
    with contextlib.suppress(OSError):  # not empty: something that is not ours is in there, and stays
        path.rmdir()


def fingerprint(train: Dataset, validation: Dataset | None, settings: FinetuneSettings, base: str) -> str:
    """Identifies a run, so ``--resume`` refuses a checkpoint made with other data or settings."""
    h = hashlib.sha256()
    fixed = {k: v for k, v in asdict(settings).items() if k != "checkpoint_every"}
    h.update(json.dumps({"settings": fixed, "base": base, "labels": [str(x) for x in train.labels]}).encode())
    for data in (train, validation):
        if data is not None:
            h.update(json.dumps(data.texts).encode())
            h.update(data.y.tobytes())
            if data.weights is not None:  # a run with other per-row weights is another run
                h.update(b"weights" + data.weights.astype("<f8").tobytes())
    return h.hexdigest()


def save_checkpoint(path: Path, state: dict[str, Any]) -> None:
    """Written beside the target and renamed: an interruption never leaves a half-written checkpoint."""
    with atomic_path(path) as tmp:
        torch.save(state, tmp)


def load_checkpoint(path: Path, fingerprint: str) -> dict[str, Any]:
    """The state `save_checkpoint` wrote for the run ``fingerprint`` identifies; anything else is refused."""
    if not path.is_file():
        raise ProbeError(f"--resume: no checkpoint at {path}. Run the same command without --resume to start training.")
    try:
        # weights_only: tensors, numbers, strings and containers only; no arbitrary pickled objects.
        state: dict[str, Any] = torch.load(path, weights_only=True)
    except Exception as exc:
        raise ProbeError(f"--resume: {path} cannot be read ({exc}); delete it and start over") from exc
    if state.get("format") != CHECKPOINT_FORMAT or state.get("fingerprint") != fingerprint:
        raise ProbeError(
            f"--resume: the checkpoint {path} was written for other data or settings. Resume with exactly "
            "the same command, or drop --resume to start over (this replaces the checkpoint)."
        )
    return state


@dataclass(frozen=True)
class Checkpoint:
    """The checkpoint file of one run: ``save`` and ``load`` add and check the format and fingerprint."""

    path: Path
    fingerprint: str

    def save(self, state: dict[str, Any]) -> None:
        save_checkpoint(self.path, {"format": CHECKPOINT_FORMAT, "fingerprint": self.fingerprint, **state})

    def load(self) -> dict[str, Any]:
        return load_checkpoint(self.path, self.fingerprint)


def open_checkpoint(directory: str | Path | None, fingerprint: str, *, resume: bool) -> Checkpoint | None:
    """The run's checkpoint in ``directory`` (claimed as ours), or None when the run keeps none."""
    if directory is None:
        if resume:
            raise ProbeError("--resume needs a checkpoint directory")
        return None
    if resume and not is_checkpoint_dir(directory):
        raise ProbeError(
            f"--resume: no checkpoint at {Path(directory) / CHECKPOINT_FILE}. "
            "Run the same command without --resume to start training."
        )
    return Checkpoint(claim_checkpoint_dir(directory) / CHECKPOINT_FILE, fingerprint)
