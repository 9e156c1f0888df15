"""`probe train` on multi-label data: is it multi-label (`is_multilabel_job`), and the run when it is
(`run_multilabel_train`: read, embed and fit through `training.train_multilabel`, save, print the report).

`probe_train.training_cli.run_train` hands a job over here once its output is guarded and locked; what the run
prints is here, what it computes is in `multilabel.training`. Single-label data never comes here, and its
run prints what it printed before (the detection is silent for it).
"""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from ..cli_options import show_progress
from ..embedding_cache import EmbeddingCache
from ..encoder import check_layer, load_encoder
from ..errors import DataError, FieldUsageError
from ..model_dir import TrainedModel, save_trained
from ..requests import TrainJob
from .data import Detection, LabelLayout, MultiLabelDataset, detect_multilabel, load_multilabel
from .metrics import LabelScores, MultiLabelReport, format_multilabel_report
from .training import MultiLabelRequest, check_multilabel_settings, train_multilabel

__all__ = ["detection", "is_multilabel_job", "run_multilabel_train"]


def _layout(job: TrainJob) -> LabelLayout:
    return LabelLayout(job.columns.label, job.label_separator, job.label_columns)


def detection(job: TrainJob) -> Detection:
    """Whether ``job``'s data is multi-label, and the one line saying why (the flags first, then the data)."""
    if job.multi_label is not None:
        kind = "multi-label" if job.multi_label else "single-label"
        return Detection(job.multi_label, f"{kind}: as set (--{kind})")
    found = detect_multilabel(job.data, job.columns.text, _layout(job))
    if not found.multilabel and job.label_separator is not None:
        # Named by the user: multi-label data whose separator splits nothing is the reader's one-line error.
        return Detection(True, f"multi-label: --label-separator {job.label_separator!r} given")
    return found


def is_multilabel_job(job: TrainJob) -> bool:
    """Multi-label by a flag or by the data. A file the multi-label reader cannot read without being asked to
    is single-label data's business: its reader names the mistake as it always has."""
    asked = job.multi_label is not None or job.label_separator is not None or bool(job.label_columns)
    try:
        return detection(job).multilabel
    except DataError:
        if asked:
            raise
        return False


def _holdout(data: MultiLabelDataset, size: float, seed: int) -> tuple[MultiLabelDataset, MultiLabelDataset]:
    """A seeded random ``size`` of the rows held out (no stratification: scikit-learn has none for multi-label)."""
    order = np.random.default_rng(seed).permutation(len(data))
    n_test = max(1, round(size * len(data)))
    held = f"{data.source} (held-out {size:g})"
    return data.subset(np.sort(order[n_test:]), data.source), data.subset(np.sort(order[:n_test]), held)


def _read(job: TrainJob) -> tuple[MultiLabelDataset, MultiLabelDataset]:
    if job.sweep is not None:
        raise FieldUsageError("{layer} auto sweeps single-label data; name a layer for multi-label data", "layer")
    if job.columns.weight is not None:
        raise FieldUsageError(
            "{weight_column} is not supported for multi-label data yet; leave it out", "weight_column"
        )
    data = load_multilabel(job.data, job.columns.text, _layout(job))
    if job.test:
        return data, load_multilabel(job.test, job.columns.text, _layout(job), labels=data.labels)
    return _holdout(data, job.test_size, job.settings.seed)


def _normalisation_line(trained: TrainedModel) -> str:
    s = trained.settings
    line = f"L2 normalisation: {'yes' if trained.normalize else 'no'}"
    raw, l2 = s.cv_average_precision_raw, s.cv_average_precision_l2
    if raw is None or l2 is None:
        return f"{line} (as set)"
    return f"{line} (chosen by 5-fold CV mean average precision over the labels: raw {raw:.4f}, L2 {l2:.4f})"


def _report_text(trained: TrainedModel) -> str:
    r = trained.report
    scores = r.per_class or {}
    per_label = tuple(
        LabelScores(label, s["precision"], s["recall"], s["f1"], int(s["support"])) for label, s in scores.items()
    )
    report = MultiLabelReport(
        r.n or 0,
        r.micro_f1 or 0.0,
        r.macro_f1 or 0.0,
        r.weighted_f1 or 0.0,
        r.subset_accuracy or 0.0,
        r.hamming_loss or 0.0,
        per_label,
    )
    return format_multilabel_report(report, f"held-out evaluation ({r.test_source})")


def _thresholds_line(trained: TrainedModel) -> str:
    t = trained.thresholds
    assert t is not None
    cuts = ", ".join(f"{label} {value:.3f}" for label, value in t.by_label.items())
    return f"thresholds (chosen for {t.target} on {t.chosen_on}): {cuts}"


def run_multilabel_train(job: TrainJob) -> int:
    """The multi-label run under `run_train`'s lock: every check before the encoder loads, then train and save."""
    check_multilabel_settings(job.settings)
    train_data, test = _read(job)
    print(detection(job).reason, file=sys.stderr)  # once the data is read: a mistake in it is the one line shown
    settings = job.settings
    encoder = load_encoder(settings.model, settings.max_length)
    check_layer(encoder, settings.layer)
    print(
        f"training (multi-label probe) on {len(train_data)} examples ({len(train_data.labels)} labels: "
        f"{train_data.labels}); evaluating on {len(test)} from {test.source}",
        file=sys.stderr,
    )
    cache = EmbeddingCache() if job.cache else None
    request = MultiLabelRequest(train_data, encoder, settings, job.threshold_target, test, show_progress(), cache)
    trained = train_multilabel(request)
    print(_normalisation_line(trained), file=sys.stderr)
    out = Path(save_trained(trained, job.out, overwrite=job.overwrite))
    print(_report_text(trained))
    print(_thresholds_line(trained))
    print(
        f"\nsaved the trained model to {out}/ (report: {out}/report.json); "
        f"next: probe export {out} --out {out.with_suffix('.onnx')}"
    )
    return 0
