"""`probe report`: the model card and its pictures, regenerated from what a model directory or artifact stores.

A report is a directory of its own: ``README.md`` (the card, as the Hugging Face hub reads it) and the
PNGs it links (`card.PICTURES`). It is written atomically, and it replaces an existing directory only
when that is a report of ours (recognised by the card's marker line and nothing but our file names
inside) and the caller allows it: a user's folder is never touched.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from probe_runtime.atomic import atomic_dir
from probe_runtime.errors import InputError
from probe_runtime.guard import refuse_existing_output, refuse_output_over_inputs
from probe_runtime.records import TrainingSummary

from .card import CARD_MARKER, PICTURES, CardFacts, facts_from_manifest, picture_links, render_card

__all__ = [
    "CARD_FILE",
    "KIND",
    "REPORT_DIR",
    "default_out",
    "is_report_dir",
    "load_facts",
    "matplotlib_available",
    "read_sweep",
    "write_report",
]

CARD_FILE = "README.md"
REPORT_DIR = "card"  # inside a model directory
KIND = "probe report directory"
SWEEP_FILE = "sweep.json"  # a layer sweep's results, when one was saved in the model directory


def is_report_dir(path: Path) -> bool:
    """A directory `write_report` made: its README.md carries the card marker and it holds only our files."""
    card = path / CARD_FILE
    if not path.is_dir() or path.is_symlink() or not card.is_file():
        return False
    try:
        with open(card, encoding="utf-8") as f:
            marked = CARD_MARKER in f.read(64_000)
    except (OSError, UnicodeDecodeError):
        return False
    ours = {CARD_FILE, *PICTURES.values()}
    return marked and all(child.name in ours and child.is_file() for child in path.iterdir())


def default_out(source: Path) -> Path:
    """``NAME.card/`` beside an artifact (`probe export` writes only the artifact; the card travels inside it);
    ``card/`` inside a model directory (which is ours)."""
    return source / REPORT_DIR if source.is_dir() else source.with_name(f"{source.stem}.card")


def read_sweep(path: str | Path) -> Any:
    """A sweep's JSON (see `plots.sweep_points` for the rows it needs), or one `InputError` naming the file."""
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read the sweep's JSON ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, ValueError) as exc:
        raise InputError(
            f"{path}: not a sweep's JSON ({str(exc)[:120]}); give the file the layer sweep wrote"
        ) from None


def _facts_from_model_dir(path: Path) -> tuple[CardFacts, Any]:
    from probe_train.model_dir import load_trained

    trained = load_trained(path)
    sweep = read_sweep(path / SWEEP_FILE) if (path / SWEEP_FILE).is_file() else None
    calibration = trained.report.calibration
    facts = CardFacts(
        name=path.resolve().name,
        labels=list(trained.labels),
        base_encoder=trained.base_encoder,
        method=trained.method,
        pooling=trained.pooling,
        layer=trained.layer,
        max_length=trained.max_length,
        training=trained.summary() if trained.report.to_json_dict() else TrainingSummary(),
        provenance=trained.provenance,
        decisions={"calibration": calibration} if isinstance(calibration, dict) else {},
        thresholds=trained.thresholds,
    )
    return facts, sweep


def load_facts(source: str | Path) -> tuple[CardFacts, Any]:
    """The card's facts from a model directory or an artifact, and a sweep's JSON when one is stored."""
    source = Path(source)
    if source.is_dir():
        return _facts_from_model_dir(source)
    from probe_runtime import Classifier

    clf = Classifier.load(source)  # every check the runtime makes: a damaged file is one clear error
    return facts_from_manifest(clf.manifest, source.stem), None


def _draw(facts: CardFacts, sweep: Any, links: dict[str, str], folder: Path) -> None:
    from . import plots

    t = facts.training
    if "confusion_matrix" in links and t.confusion_matrix:
        plots.confusion_matrix_png(t.confusion_matrix, facts.labels, folder / links["confusion_matrix"])
    if "layers" in links:
        plots.layer_curve_png(plots.sweep_points(sweep), facts.layer, folder / links["layers"])
    points = plots.reliability_points(facts.decisions.get("calibration"))
    if "reliability" in links and points is not None:
        plots.reliability_png(*points, folder / links["reliability"])


def write_report(
    facts: CardFacts,
    out: str | Path,
    *,
    sweep: Any = None,
    pictures: bool = True,
    overwrite: bool = False,
    inputs: dict[str, str | Path | None] | None = None,
) -> Path:
    """Write ``out/README.md`` and (``pictures``, needs matplotlib) its PNGs; returns the card's path.

    ``out`` may not be or hold one of ``inputs``; an existing ``out`` is replaced only when it is a report
    of ours and ``overwrite`` is true. Without ``pictures`` the card links none.
    """
    out = Path(out)
    refuse_output_over_inputs(out, inputs or {})
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_report_dir, kind=KIND)
    points = None
    if sweep is not None:
        from .plots import sweep_points

        points = sweep_points(sweep) or None
    links = picture_links(facts, sweep=points is not None) if pictures else {}
    if pictures:
        from .plots import pyplot

        pyplot()  # matplotlib missing: the one-line error with the install command, before anything is written
    with atomic_dir(out) as staging:
        (staging / CARD_FILE).write_text(render_card(facts, links), encoding="utf-8")
        _draw(facts, sweep, links, staging)
    return out / CARD_FILE


def matplotlib_available() -> bool:
    """Whether pictures can be drawn here (`ProbeClassifier.save` draws them only then; the card says so)."""
    try:
        import matplotlib  # noqa: F401
    except ImportError:
        return False
    return True
