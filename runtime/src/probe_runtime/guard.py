"""Guards every command puts around its output before doing any work.

- `refuse_output_over_inputs`: an output that is, is inside, or contains one of the command's inputs
  (data, model, encoder) would destroy what the user asked us to read: a usage error, before work.
- `refuse_existing_output`: a command replaces only a previous output *of its own kind* (recognised by
  the caller's marker check), and only when told to (``--overwrite``); anything else is left alone.
- `output_lock`: two runs writing the same output are refused with a clear message instead of
  interleaving (an advisory ``flock`` on ``.NAME.lock`` beside the output, released by the OS if the
  process dies, so a crash never leaves a stale lock behind).
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

from .errors import UsageError

__all__ = ["output_lock", "refuse_existing_output", "refuse_output_over_inputs", "refuse_unwritable_output"]

PathLike = str | os.PathLike[str]


def _same(a: Path, b: Path) -> bool:
    """The same file or directory: by resolved path, or by inode when both exist (hard links)."""
    if a == b:
        return True
    try:
        return a.exists() and b.exists() and os.path.samefile(a, b)
    except OSError:
        return False


def refuse_output_over_inputs(out: PathLike, inputs: Mapping[str, PathLike | None], flag: str = "--out") -> None:
    """Raise `UsageError` when ``out`` is, is inside, or contains one of ``inputs`` (``{what: path}``).

    ``-`` (stdin/stdout) and ``None`` entries are ignored. Paths are compared resolved (symlinks followed).
    """
    if str(out) == "-":
        return
    target = Path(out).resolve()
    for what, path in inputs.items():
        if path is None or str(path) == "-":
            continue
        source = Path(path).resolve()
        if _same(target, source):
            raise UsageError(
                f"{flag} {out} is the {what} ({path}); writing there would destroy it. Choose another {flag}."
            )
        if source in target.parents:
            raise UsageError(
                f"{flag} {out} is inside the {what} ({path}); writing there would change it. Choose a path outside it."
            )
        if target in source.parents:
            raise UsageError(
                f"{flag} {out} contains the {what} ({path}); replacing it would destroy it. Choose another {flag}."
            )


def refuse_unwritable_output(out: PathLike, flag: str = "--out") -> None:
    """Fail fast (before minutes of work) when ``out`` cannot be created: its parent is a file or not writable."""
    if str(out) == "-":
        return
    target = Path(out)
    parent = target.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir():
        raise UsageError(f"{flag} {out}: {parent} is a file, not a directory. Choose another {flag}.")
    if not os.access(parent, os.W_OK | os.X_OK):
        raise UsageError(f"{flag} {out}: no permission to write in {parent}. Choose another {flag}.")
    # Permission bits are not the whole story: root passes them everywhere, and read-only mounts or
    # virtual file systems (/proc) refuse anyway. Only trying says for sure: a file of our own, removed at once.
    try:
        fd, name = tempfile.mkstemp(prefix=".probe-write-test-", dir=parent)
    except OSError as exc:
        raise UsageError(
            f"{flag} {out}: cannot write in {parent} ({exc.strerror or exc}). Choose another {flag}."
        ) from None
    os.close(fd)
    os.unlink(name)


def refuse_existing_output(
    out: PathLike,
    *,
    overwrite: bool,
    is_own_kind: Callable[[Path], bool],
    kind: str,
    flag: str = "--out",
) -> None:
    """Allow ``out`` only if it does not exist, is an empty directory, or is a previous output of ours
    (``is_own_kind``) and ``overwrite`` was asked for."""
    target = Path(out)
    if not target.exists() and not target.is_symlink():
        return
    if target.is_dir() and not target.is_symlink() and not any(target.iterdir()):
        return
    if not is_own_kind(target):
        raise UsageError(
            f"{flag} {out} already exists and is not a {kind} written by probe; probe never replaces what it did "
            f"not create. Choose another {flag}."
        )
    if not overwrite:
        raise UsageError(f"{flag} {out} already exists (a {kind} from an earlier run); pass --overwrite to replace it.")


def _lock_path(target: Path) -> Path:
    return target.parent / f".{target.name}.lock"


@contextmanager
def output_lock(out: PathLike, flag: str = "--out") -> Iterator[None]:
    """Hold an exclusive lock on ``out`` for the block; a second writer gets `UsageError` at once."""
    target = Path(out)
    lock = _lock_path(target)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        os.close(os.open(lock, os.O_RDWR | os.O_CREAT, 0o666))
    except OSError as exc:  # the lock is ours, an internal detail: the user hears about the output they named
        raise UsageError(
            f"{flag} {out}: cannot write in {target.parent} ({exc.strerror or exc}). Choose another {flag}."
        ) from None
    try:
        import fcntl
    except ImportError:  # Windows: no advisory locks in the stdlib; writers are not guarded there
        yield
        return
    while True:
        fd = os.open(lock, os.O_RDWR | os.O_CREAT, 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise UsageError(
                f"another probe process is writing {out} right now (lock {lock}); wait for it to finish "
                f"or choose another {flag}."
            ) from None
        # The previous holder may have removed the lock file between our open and our flock: then we
        # hold a lock on a file nobody else can see. Retry until the file we locked is the one at `lock`.
        try:
            if os.fstat(fd).st_ino == os.stat(lock).st_ino:
                break
        except FileNotFoundError:
            pass
        os.close(fd)
    try:
        yield
    finally:
        try:
            lock.unlink(missing_ok=True)
        finally:
            os.close(fd)
