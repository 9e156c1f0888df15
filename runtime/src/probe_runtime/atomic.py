"""Write files and directories so that nobody ever sees half of one: build beside the target, then rename.

Temporary files from `tempfile` are created 0600 (directories 0700) for safety while they are private;
once they become a user's output they get the permissions any file the user creates would get (the
process umask), so a service account or a colleague can read the model like any other file.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["atomic_dir", "atomic_path", "current_umask", "user_mode"]


def current_umask() -> int:
    """The process umask, read without changing it where the OS allows (``os.umask`` is process-wide and racy)."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except OSError:
        pass
    mask = os.umask(0o022)  # not Linux: the only portable way to read it is to set it and put it back
    os.umask(mask)
    return mask


def user_mode(directory: bool = False) -> int:
    """The mode ``open()``/``mkdir()`` would give a new file (0666) or directory (0777) under the umask."""
    return (0o777 if directory else 0o666) & ~current_umask()


@contextmanager
def atomic_path(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A temporary path in ``target``'s directory that replaces ``target`` only if the block succeeds.

    Same directory, so the final ``os.replace`` is an atomic rename on every platform we support;
    on any error the temporary file is removed and ``target`` is left as it was. The result has the
    mode of the file it replaces, or the umask's default for a new file.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        mode = target.stat().st_mode & 0o7777 if target.is_file() else user_mode()
        os.chmod(tmp, mode)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextmanager
def atomic_dir(target: str | os.PathLike[str]) -> Iterator[Path]:
    """A staging directory beside ``target`` that becomes ``target`` only if the block succeeds.

    A previous ``target`` is moved aside first and removed only once the new one is in place, so a
    crash at any point leaves either the old directory (possibly under its ``.NAME.old-*`` name) or the
    new one, never neither. Callers decide beforehand whether ``target`` may be replaced at all. The
    result has the mode of the directory it replaces, or the umask's default for a new one.
    """
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".partial", dir=target.parent))
    try:
        yield staging
        mode = target.stat().st_mode & 0o7777 if target.is_dir() else user_mode(directory=True)
        os.chmod(staging, mode)
        old = None
        if target.exists():
            old = Path(tempfile.mkdtemp(prefix=f".{target.name}.old-", dir=target.parent))
            os.replace(target, old / target.name)
        os.replace(staging, target)
        if old is not None:
            shutil.rmtree(old, ignore_errors=True)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
