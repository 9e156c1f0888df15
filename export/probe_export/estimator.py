"""The scikit-learn estimator's way to the artifact: its model card, and the verified one-file export.

`probe_train.estimator.ProbeClassifier` trains and saves model directories; writing the card and exporting
are this package's, so they live here and take the fitted estimator (training never imports export).
"""

from __future__ import annotations

import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

from probe_runtime.errors import UsageError

if TYPE_CHECKING:
    from probe_runtime import Classifier
    from probe_train.estimator import ProbeClassifier

__all__ = ["export_estimator", "save_with_card"]


def save_with_card(
    clf: ProbeClassifier, out: str | Path, eval_texts: Any = None, eval_y: Any = None, *, overwrite: bool = False
) -> Path:
    """``clf.save(...)`` plus ``card/``: the model card and, with matplotlib installed, its pictures, as
    ``probe report DIR`` writes them."""
    from .report import REPORT_DIR, load_facts, matplotlib_available, write_report

    saved = clf.save(out, eval_texts, eval_y, overwrite=overwrite)
    facts, sweep = load_facts(saved)
    write_report(facts, saved / REPORT_DIR, sweep=sweep, pictures=matplotlib_available())
    return saved


def export_estimator(
    clf: ProbeClassifier,
    path: str | Path,
    eval_texts: Any,
    eval_y: Any,
    *,
    quantize: str = "auto",
    overwrite: bool = False,
    **options: Any,
) -> Classifier:
    """Save, export and load in one call: the verified one-file artifact of the fitted ``clf`` at ``path``, loaded.

    ``eval_texts``/``eval_y``: labelled held-out data the export verifies the file on (as `ProbeClassifier.save`).
    ``quantize`` and ``options`` are `probe_export.pipeline.ExportOptions`' (``long_text=``,
    ``max_flip_rate=``...). The model directory in between is temporary; ``path`` replaces only an earlier
    artifact, and only with ``overwrite`` (`probe_export.output.guard_export_output`).
    """
    from probe_runtime import Classifier
    from sklearn.utils.validation import check_is_fitted

    from .output import guard_export_output
    from .pipeline import ExportOptions, export_model

    check_is_fitted(clf, "coef_")
    if eval_texts is None or eval_y is None:
        raise UsageError(
            "export needs labelled held-out texts to verify the file on: export_estimator(clf, path, texts, labels)"
        )
    export_options = ExportOptions(quantize=quantize, **options)
    # The encoder the estimator was fitted with is an input too (a fine-tuned model's directory names only
    # its own copy): refused here, before the evaluation texts are scored.
    guard_export_output(clf.encoder_.path, path, None, overwrite=overwrite)
    with tempfile.TemporaryDirectory(prefix="probe-estimator-") as tmp:
        model_dir = clf.save(Path(tmp) / "model", eval_texts, eval_y)
        result = export_model(model_dir, path, export_options, overwrite=overwrite)
    return Classifier.load(result.path)
