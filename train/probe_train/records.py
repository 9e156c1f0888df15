"""What `probe train` records about a run, typed: the model directory's report.json and config.json's settings.

Both records derive from the artifact's `TrainingSummary` (`probe_runtime.records`): each inherits every
field an exported file carries about its training, so a field added to the contract is a field training
can set here, and `training_summary` carries every one of them into the artifact by name, with no key list
in between (two hand-typed key lists once dropped the per-row weights on the way). The fields declared
below are the ones that stay in the model directory: the curves, the per-epoch history, the settings a
reader of report.json wants but the artifact does not keep.

Keys a record does not know (a later probe's) are kept as read, as the artifact's records keep them.
"""

from __future__ import annotations

from dataclasses import dataclass, field, fields
from typing import Any

from probe_runtime.record_fields import count, field_error, flag, json_object, number, spec, text, to_plain
from probe_runtime.records import TrainingSummary

__all__ = ["RunSettings", "TrainReport", "settings_record", "training_summary"]


def _json_list(name: str, value: Any) -> tuple[Any, ...]:
    """A JSON list of plain data (the history's epochs, the labels, the class weights)."""
    if not isinstance(value, (list, tuple)):
        raise field_error(name, "a list", value)
    json_object(name, {"items": list(value)})  # plain JSON data only
    return tuple(value)


def _class_weight(name: str, value: Any) -> Any:
    """The probe records the weight of each class (a list); fine-tuning the setting as given (a word or an object)."""
    if isinstance(value, (list, tuple)):
        return _json_list(name, value)
    if isinstance(value, dict):
        return json_object(name, value)
    return text(name, value)


@dataclass(frozen=True)
class TrainReport(TrainingSummary):
    """report.json: the held-out figures (`metrics.evaluate`, `decisions.test_report`) and the run's facts."""

    labels: tuple[Any, ...] | None = field(default=None, metadata=spec(_json_list))
    # Temperature scaling: ECE and Brier before/after, the reliability bins (`calibration.calibration_figures`)
    calibration: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    # Two labels: the areas and the thinned curves (`operating_point.curves`)
    roc_auc: float | None = field(default=None, metadata=spec(number))
    pr_auc: float | None = field(default=None, metadata=spec(number))
    roc_curve: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    pr_curve: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    # The stored decision and its figures on the test split next to argmax's
    operating_point: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    reliability_diagram: str | None = field(default=None, metadata=spec(text))  # why it was not drawn


@dataclass(frozen=True)
class RunSettings(TrainingSummary):
    """config.json's ``settings``: what the run chose and how (the probe's search, fine-tuning's optimiser)."""

    base_encoder: str | None = field(default=None, metadata=spec(text))  # as the user named it
    class_weight: Any = field(default=None, metadata=spec(_class_weight))
    # Fine-tuning: the validation split's size, the per-epoch losses and scores, and the rest of its settings
    n_validation: int | None = field(default=None, metadata=spec(count))
    history: tuple[Any, ...] | None = field(default=None, metadata=spec(_json_list))
    weight_decay: float | None = field(default=None, metadata=spec(number))
    warmup_ratio: float | None = field(default=None, metadata=spec(number))
    max_grad_norm: float | None = field(default=None, metadata=spec(number))
    validation_size: float | None = field(default=None, metadata=spec(number))
    patience: int | None = field(default=None, metadata=spec(count))
    checkpoint_every: int | None = field(default=None, metadata=spec(count))
    operating_point: str | None = field(default=None, metadata=spec(text))
    min_score: float | None = field(default=None, metadata=spec(number))
    calibrate: bool | None = field(default=None, metadata=spec(flag))
    # Multi-label probes: each label's C and out-of-fold average precision (mean over labels: the raw and the
    # L2-normalised search, when both ran), the threshold target, and each threshold's out-of-fold figures
    label_C: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    cv_average_precision: dict[str, Any] | None = field(default=None, metadata=spec(json_object))
    cv_average_precision_raw: float | None = field(default=None, metadata=spec(number))
    cv_average_precision_l2: float | None = field(default=None, metadata=spec(number))
    threshold_target: str | None = field(default=None, metadata=spec(text))
    threshold_figures: dict[str, Any] | None = field(default=None, metadata=spec(json_object))


SUMMARY_FIELDS = tuple(f.name for f in fields(TrainingSummary) if f.name != "extra")


def training_summary(report: TrainReport, settings: RunSettings) -> TrainingSummary:
    """The artifact's `TrainingSummary`: every one of its fields that either record set, by name.

    Checked by the contract's own parser, so a value training could not have written is one error here.
    """
    values: dict[str, Any] = {}
    for part in (report, settings):
        recorded = {name: getattr(part, name) for name in SUMMARY_FIELDS}
        values.update({name: to_plain(value) for name, value in recorded.items() if value is not None})
    return TrainingSummary.parse(values, "training")


# Settings config.json holds as fields of its own (the model's shape), or that name no value of the run.
_OWN_FIELDS = ("model", "pooling", "layer", "max_length", "label_names")


def settings_record(settings: Any, **run: Any) -> RunSettings:
    """A method's settings (a `settings.ProbeSettings` dataclass) recorded by field name, with the run's own
    facts: a setting added there is recorded without a line here (kept as read when this record lacks it)."""
    chosen = {f.name: getattr(settings, f.name) for f in fields(settings) if f.name not in _OWN_FIELDS}
    values = {k: to_plain(v) for k, v in {**chosen, **run}.items() if v is not None}
    return RunSettings.parse(values, "settings")
