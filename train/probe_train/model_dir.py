"""The trained-model directory `probe train` writes and `probe export` reads.

It is an intermediate, not the deliverable (that is the single `.onnx` file), so it favours being
inspectable: JSON config and report, the held-out texts used for export verification, and the head
as a NumPy archive loaded with ``allow_pickle=False`` (no pickles anywhere in the pipeline).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, TypeVar

import numpy as np
from probe_runtime.atomic import atomic_dir, user_mode
from probe_runtime.choices import Method, Pooling, Task
from probe_runtime.errors import ArtifactError, InputError
from probe_runtime.guard import refuse_existing_output
from probe_runtime.record_fields import to_plain
from probe_runtime.records import Decision, LabelThresholds, Provenance, Record, TrainingSummary

from .encoder import Encoder
from .errors import ProbeError
from .head_fit import CONFIG, HEAD, check_head_fits_encoder, encoder_config, read_arrays
from .head_fit import damaged as _damaged
from .marker import FORMAT, FORMAT_VERSION, KIND, is_trained_model_dir
from .multilabel.directory import multilabel_eval_records, read_multilabel_eval, task_fields
from .records import RunSettings, TrainReport, training_summary
from .static_dir import encoder_kind, read_static_table, static_config, write_static_table
from .static_encoder import StaticTable
from .static_training import EncoderKind

__all__ = [
    "ENCODER_DIR",
    "KIND",
    "TrainedModel",
    "is_trained_model_dir",
    "load_trained",
    "sample_texts",
    "save_trained",
]

REPORT, EVAL, ENCODER_DIR = "report.json", "eval.jsonl", "encoder"
RELIABILITY = "reliability.png"
# Unlabelled training texts the export compares its precision candidates against fp32 on: agreement needs
# no labels, and a few thousand texts tell a 0.5 % flip rate from a 2 % one where a 116-text test split cannot.
SAMPLE, SAMPLE_TEXTS = "texts.jsonl", 4000


@dataclass(frozen=True)
class TrainedModel:
    """A trained classifier: which encoder, how to pool, the linear head on top, and what the run recorded.

    Frozen and typed end to end: ``report`` and ``settings`` are the records report.json and config.json's
    settings hold (`records`), ``decision`` and ``provenance`` the artifact's own records, so what training
    records reaches the artifact by construction (`summary`). A change is a new record (`dataclasses.replace`).
    """

    method: Method
    encoder: str
    pooling: Pooling
    layer: int
    max_length: int
    labels: list[Any]
    weight: np.ndarray
    bias: np.ndarray
    report: TrainReport = field(default_factory=TrainReport)
    settings: RunSettings = field(default_factory=RunSettings)
    eval_texts: list[str] = field(default_factory=list)
    eval_y: list[Any] = field(default_factory=list)  # label indices; multi-label: 0/1 rows
    sample_texts: list[str] = field(default_factory=list)
    normalize: bool = False  # the pooled vector is L2-normalised before the head (absent in older directories)
    # Decisions (probe_train.decisions): the temperature folded into the head's softmax, the operating
    # point, display names aligned with labels (empty: none).
    temperature: float = 1.0
    calibrated_on: str = ""  # the held-out data the temperature was fitted on ("": not fitted)
    decision: Decision = field(default_factory=Decision)
    label_names: list[str] = field(default_factory=list)
    reliability_png: bytes | None = None  # written beside the report as reliability.png
    # The base encoder by what finds it again (hub id/revision or package/version, weights' SHA-256)
    provenance: Provenance | None = None
    # The static tier (`probe train --encoder static`): the token table distilled from ``encoder`` (and
    # fine-tuned with ``method`` finetune), kept as static_table.npz; None: the transformer itself.
    static: StaticTable | None = None

    @property
    def encoder_kind(self) -> EncoderKind:
        return EncoderKind.TRANSFORMER if self.static is None else EncoderKind.STATIC

    # Multi-label (`probe_train.multilabel`): a sigmoid per label, each decided by its threshold in ``thresholds``;
    # ``eval_y`` then holds a 0/1 row per text. Older directories are single-label.
    task: Task = Task.SINGLE_LABEL
    thresholds: LabelThresholds | None = None

    @property
    def multi_label(self) -> bool:
        return self.task is Task.MULTI_LABEL

    @property
    def base_encoder(self) -> str:
        """The encoder as the user named it (a fine-tuned model's ``encoder`` is its own ``encoder/`` folder)."""
        return self.settings.base_encoder or self.encoder

    def summary(self) -> TrainingSummary:
        """What the artifact records of this run: every `TrainingSummary` field the report or settings set."""
        return training_summary(self.report, self.settings)

    def config(self) -> dict[str, Any]:
        """config.json: every field but those kept in files of their own, as JSON data."""
        data = {f.name: to_plain(getattr(self, f.name)) for f in fields(self) if f.name not in _OWN_FILES}
        own = {"format": FORMAT, "format_version": FORMAT_VERSION, **data, "provenance": data["provenance"] or {}}
        return {**own, **static_config(self.static)}


_OWN_FILES = ("weight", "bias", "report", "eval_texts", "eval_y", "sample_texts", "reliability_png", "static")


def sample_texts(texts: list[str], seed: int, n: int = SAMPLE_TEXTS) -> list[str]:
    """A seeded sample of at most ``n`` training texts (all of them when there are fewer), in input order."""
    if len(texts) <= n:
        return list(texts)
    keep = np.sort(np.random.default_rng(seed).choice(len(texts), n, replace=False))
    return [texts[i] for i in keep]


def save_trained(
    model: TrainedModel,
    out: str | Path,
    *,
    encoder: Encoder | None = None,
    overwrite: bool = False,
) -> Path:
    """Write the directory atomically: build it beside the target, then swap it in.

    The one packaging path, for both methods and for the CLI and the estimator alike. A fine-tuned
    model needs its (trained-in-place) ``encoder``: it is saved with its tokenizer as ``encoder/``.
    ``model.eval_texts`` become ``eval.jsonl``, what `probe export` verifies the file on.
    An existing ``out`` is replaced only when it is a model directory of ours and ``overwrite`` is
    true; anything else (a Hugging Face model folder, a project root) is refused, never touched, and
    before the encoder is saved, so a refusal costs nothing.
    """
    out = Path(out)
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_trained_model_dir, kind=KIND)
    if model.method != "finetune" or model.static is not None:  # a static model fine-tunes its table, kept as a file
        return _write(model, out, None, overwrite)
    if encoder is None:
        raise ValueError("a fine-tuned model is saved together with its encoder: pass encoder=")
    with tempfile.TemporaryDirectory(prefix="probe-finetuned-") as tmp:
        encoder.model.save_pretrained(tmp)
        encoder.tokenizer.save_pretrained(tmp)
        return _write(model, out, Path(tmp), overwrite)


def _write_json(path: Path, data: dict[str, Any]) -> None:
    path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_jsonl(path: Path, records: Iterable[dict[str, Any]]) -> None:
    with open(path, "w", encoding="utf-8") as f:
        for record in records:
            f.write(json.dumps(record, ensure_ascii=False) + "\n")


def _write(model: TrainedModel, out: Path, encoder_dir: Path | None, overwrite: bool) -> Path:
    with atomic_dir(out) as staging:
        _write_json(staging / CONFIG, model.config())
        _write_json(staging / REPORT, model.report.to_json_dict())
        np.savez(staging / HEAD, weight=model.weight, bias=model.bias)
        if model.static is not None:
            write_static_table(staging, model.static)
        if model.reliability_png is not None:
            (staging / RELIABILITY).write_bytes(model.reliability_png)
        if model.eval_texts:
            labelled = zip(model.eval_texts, model.eval_y)
            rows: Iterable[dict[str, Any]] = ({"text": text, "label": model.labels[y]} for text, y in labelled)
            if model.multi_label:
                rows = multilabel_eval_records(model.labels, model.eval_texts, model.eval_y)
            _write_jsonl(staging / EVAL, rows)
        if model.sample_texts:
            _write_jsonl(staging / SAMPLE, ({"text": text} for text in model.sample_texts))
        if encoder_dir is not None:
            shutil.copytree(encoder_dir, staging / ENCODER_DIR)
            # copytree copies the source's mode: a TemporaryDirectory is 0700, the user's umask decides here.
            os.chmod(staging / ENCODER_DIR, user_mode(directory=True))
        # Re-checked at the last moment: another run may have written `out` while this one trained.
        refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_trained_model_dir, kind=KIND)
    return out


def _unreadable(path: Path, exc: ProbeError) -> ProbeError:
    """The data reader's message (which starts with the file's name) as a damaged-directory error."""
    return _damaged(path, str(exc).removeprefix(f"{path}, ").removeprefix(f"{path}: "))


def _read_config(path: Path) -> dict[str, Any]:
    config_path = path / CONFIG
    if not path.exists():
        raise ProbeError(f"model directory not found: {path}; create one with `probe train`")
    if not path.is_dir():
        raise ProbeError(f"{path} is a file, not a model directory; give the directory `probe train --out` wrote")
    if not config_path.is_file():
        raise ProbeError(f"{path} is not a trained probe model (no {CONFIG}); create one with `probe train`")
    try:
        config = json.loads(config_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(config_path, f"not valid JSON ({exc})") from None
    if not isinstance(config, dict) or config.get("format") != FORMAT:
        raise ProbeError(f'{config_path} is not a probe model directory\'s config (no "format": "{FORMAT}")')
    if config.get("format_version") != FORMAT_VERSION:
        raise ProbeError(
            f"{config_path} has format_version {config.get('format_version')!r}; this probe reads version "
            f"{FORMAT_VERSION}. Train the model again with this version of probe."
        )
    expected = {"method": str, "encoder": str, "pooling": str, "layer": int, "max_length": int, "labels": list}
    for key, kind in expected.items():
        value = config.get(key)
        if not isinstance(value, kind) or isinstance(value, bool):
            raise _damaged(config_path, f"field {key!r} is {value!r}, not a {kind.__name__}")
    if len(config["labels"]) < 2 or len(set(map(repr, config["labels"]))) != len(config["labels"]):
        raise _damaged(config_path, f"field 'labels' must list two or more distinct labels, not {config['labels']!r}")
    return config


def _read_head(path: Path, n_labels: int) -> tuple[np.ndarray, np.ndarray]:
    head_path = path / HEAD
    weight, bias = read_arrays(head_path, ("weight", "bias"), "it holds the classifier's weights")
    if weight.ndim != 2 or bias.shape != (weight.shape[0],) or weight.shape[0] != n_labels:
        raise _damaged(
            head_path,
            f"weight {weight.shape} and bias {bias.shape} do not fit {n_labels} labels "
            f"(expected [{n_labels}, hidden] and [{n_labels}])",
        )
    if (
        weight.dtype.kind != "f"
        or bias.dtype.kind != "f"
        or not (np.isfinite(weight).all() and np.isfinite(bias).all())
    ):
        raise _damaged(head_path, "weight and bias must be finite floating-point numbers")
    return weight, bias


def _read_eval(path: Path, labels: list[Any], task: Task = Task.SINGLE_LABEL) -> tuple[list[str], list[Any]]:
    """The held-out texts and their label indices (multi-label: 0/1 rows) (absent: none)."""
    eval_path = path / EVAL
    if not eval_path.is_file():
        return [], []
    if task is Task.MULTI_LABEL:
        return read_multilabel_eval(eval_path, labels)
    from probe_runtime.files import read_rows

    index = {json.dumps(label): i for i, label in enumerate(labels)}
    texts: list[str] = []
    ys: list[int] = []
    try:
        for row in read_rows(str(eval_path), "text", label_column="label"):
            key = json.dumps(row.label)
            if key not in index:
                raise _damaged(
                    eval_path, f"line {row.id} has the label {row.label!r}, which the model lacks ({labels})"
                )
            texts.append(row.text)
            ys.append(index[key])
    except InputError as exc:
        raise _unreadable(eval_path, exc) from None
    return texts, ys


def _check_settings(config_path: Path, config: dict[str, Any]) -> None:
    for key, kind in (("method", Method), ("pooling", Pooling)):
        if config[key] not in kind.values():
            raise _damaged(config_path, f"field {key!r} is {config[key]!r}, not one of {sorted(kind.values())}")
    if not isinstance(config.get("normalize", False), bool):
        raise _damaged(config_path, f"field 'normalize' is {config['normalize']!r}, not true or false")
    if config["max_length"] < 2:
        raise _damaged(config_path, f"field 'max_length' is {config['max_length']}, not 2 or more")


R = TypeVar("R", bound=Record)


def _record(kind: type[R], value: Any, path: Path, where: str) -> R:
    """``kind`` from the JSON a file of the directory holds, or one damaged-directory error naming the field."""
    try:
        return kind.parse(value, where)
    except ArtifactError as exc:
        raise _damaged(path, str(exc).removeprefix("manifest ")) from None


def _set(values: dict[str, Any]) -> dict[str, Any]:
    """The keys that hold a value: directories before the typed records wrote null for a setting not set."""
    return {k: v for k, v in values.items() if v is not None}


def _read_report(path: Path) -> TrainReport:
    """report.json as its record (absent: an empty one)."""
    if not path.is_file():
        return TrainReport()
    try:
        report = json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _damaged(path, f"not valid JSON ({exc})") from None
    if not isinstance(report, dict):
        raise _damaged(path, "not a JSON object")
    return _record(TrainReport, _set(report), path, "report")


def _records(config_path: Path, config: dict[str, Any]) -> dict[str, Any]:
    """config.json's typed fields beyond the ones `_read_config` checked: the settings, the decisions, the
    provenance (older directories lack some: their defaults), each checked by its record's parser."""
    for key in ("settings", "provenance", "decision"):
        if not isinstance(config.get(key) or {}, dict):
            raise _damaged(config_path, f"field {key!r} is not an object")
    temperature = config.get("temperature", 1.0)
    if isinstance(temperature, bool) or not isinstance(temperature, (int, float)) or not temperature > 0:
        raise _damaged(config_path, f"field 'temperature' is {temperature!r}, not a number above 0")
    names = config.get("label_names") or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _damaged(config_path, f"field 'label_names' is {names!r}, not a list of strings")
    provenance = config.get("provenance") or None
    return {
        **task_fields(config_path, config),
        "settings": _record(RunSettings, _set(config.get("settings") or {}), config_path, "settings"),
        "decision": _record(Decision, config.get("decision") or {}, config_path, "decision"),
        "provenance": None if provenance is None else _record(Provenance, provenance, config_path, "provenance"),
        "temperature": float(temperature),
        "calibrated_on": str(config.get("calibrated_on") or ""),
        "label_names": names,
        "normalize": bool(config.get("normalize", False)),
    }


def load_trained(path: str | Path) -> TrainedModel:
    """Read a model directory, checking every piece: a damaged one is one clear error, not a traceback."""
    path = Path(path)
    config = _read_config(path)
    _check_settings(path / CONFIG, config)
    weight, bias = _read_head(path, len(config["labels"]))
    encoder, static = config["encoder"], None
    if encoder_kind(path / CONFIG, config) is EncoderKind.STATIC:
        # The head reads the table's vectors, not the encoder's: the encoder only lends its tokenizer.
        static = read_static_table(path, path / CONFIG, config, weight.shape[1])
    elif (path / ENCODER_DIR).is_dir():
        encoder = str(path / ENCODER_DIR)
    elif config["method"] == Method.FINETUNE:
        raise _damaged(path / ENCODER_DIR, "missing (a fine-tuned model keeps its encoder there)")
    # Checked before torch loads anything, against the encoder loading will resolve (the default alias and a
    # cached Hub id included: reading ENCODER/config.json alone skipped both, and torch failed after 11 s).
    found = encoder_config(encoder) if static is None else None
    if found is not None:
        check_head_fits_encoder(path, {**config, "encoder": encoder}, weight.shape[1], found)
    records = _records(path / CONFIG, config)
    texts, ys = _read_eval(path, config["labels"], records["task"])
    return TrainedModel(
        method=Method(config["method"]),
        encoder=encoder,
        pooling=Pooling(config["pooling"]),
        layer=config["layer"],
        max_length=config["max_length"],
        labels=config["labels"],
        weight=weight,
        bias=bias,
        report=_read_report(path / REPORT),
        eval_texts=texts,
        eval_y=ys,
        sample_texts=_read_sample(path / SAMPLE),
        static=static,
        **records,
    )


def _read_sample(path: Path) -> list[str]:
    """The unlabelled training sample, read with the one data reader (absent in older directories: empty)."""
    if not path.is_file():
        return []
    from probe_runtime.files import read_rows

    try:
        return [row.text for row in read_rows(str(path), "text")]
    except ProbeError as exc:
        raise _unreadable(path, exc) from None
