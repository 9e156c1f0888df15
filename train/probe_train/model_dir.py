"""The trained-model directory `probe train` writes and `probe export` reads.

It is an intermediate, not the deliverable (that is the single `.onnx` file), so it favours being
inspectable: JSON config and report, the held-out texts used for export verification, and the head
as a NumPy archive loaded with ``allow_pickle=False`` (no pickles anywhere in the pipeline).
"""

from __future__ import annotations

import json
import shutil
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .data import Dataset
from .errors import ProbeError

__all__ = ["TrainedModel", "load_trained", "save_trained"]

FORMAT = "probe-trained-model"
FORMAT_VERSION = 1
CONFIG, HEAD, REPORT, EVAL, ENCODER_DIR = "config.json", "head.npz", "report.json", "eval.jsonl", "encoder"


@dataclass
class TrainedModel:
    """A trained classifier: which encoder, how to pool, and the linear head on top."""

    method: str
    encoder: str
    pooling: str
    layer: int
    max_length: int
    labels: list[Any]
    weight: np.ndarray
    bias: np.ndarray
    report: dict[str, Any] = field(default_factory=dict)
    settings: dict[str, Any] = field(default_factory=dict)
    eval_texts: list[str] = field(default_factory=list)
    eval_y: list[int] = field(default_factory=list)

    def config(self) -> dict[str, Any]:
        data = asdict(self)
        for key in ("weight", "bias", "report", "eval_texts", "eval_y"):
            data.pop(key)
        return {"format": FORMAT, "format_version": FORMAT_VERSION, **data}


def save_trained(
    model: TrainedModel, out: str | Path, evaluation: Dataset | None, encoder_dir: str | Path | None = None
) -> Path:
    """Write the directory atomically: build it beside the target, then swap it in."""
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=f".{out.name}.", dir=out.parent))
    try:
        (staging / CONFIG).write_text(json.dumps(model.config(), indent=2, ensure_ascii=False) + "\n")
        (staging / REPORT).write_text(json.dumps(model.report, indent=2, ensure_ascii=False) + "\n")
        np.savez(staging / HEAD, weight=model.weight, bias=model.bias)
        if evaluation is not None:
            with open(staging / EVAL, "w", encoding="utf-8") as f:
                for text, y in zip(evaluation.texts, evaluation.y.tolist()):
                    f.write(json.dumps({"text": text, "label": model.labels[y]}, ensure_ascii=False) + "\n")
        if encoder_dir is not None:
            shutil.copytree(encoder_dir, staging / ENCODER_DIR)
        if out.exists():
            if not (out / CONFIG).is_file():
                raise ProbeError(f"{out} exists and is not a probe model directory; choose another --out")
            shutil.rmtree(out)
        staging.rename(out)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return out


def load_trained(path: str | Path) -> TrainedModel:
    path = Path(path)
    config_path = path / CONFIG
    if not config_path.is_file():
        raise ProbeError(f"{path} is not a trained probe model (no {CONFIG}); create one with `probe train`")
    config = json.loads(config_path.read_text())
    if config.get("format") != FORMAT or config.get("format_version") != FORMAT_VERSION:
        raise ProbeError(f"{config_path} is not a probe model directory of version {FORMAT_VERSION}")
    with np.load(path / HEAD, allow_pickle=False) as head:
        weight, bias = head["weight"], head["bias"]
    report = json.loads((path / REPORT).read_text()) if (path / REPORT).is_file() else {}
    texts, ys = [], []
    if (path / EVAL).is_file():
        index = {label: i for i, label in enumerate(config["labels"])}
        for line in (path / EVAL).read_text(encoding="utf-8").splitlines():
            item = json.loads(line)
            texts.append(item["text"])
            ys.append(index[item["label"]])
    fields = {k: v for k, v in config.items() if k in TrainedModel.__dataclass_fields__}
    if (path / ENCODER_DIR).is_dir():
        fields["encoder"] = str(path / ENCODER_DIR)
    return TrainedModel(**fields, weight=weight, bias=bias, report=report, eval_texts=texts, eval_y=ys)
