"""What `probe train` and `probe layers` are asked to do, each as ONE frozen record.

Built and checked once where the command line is read (`probe_train.cli`, `probe_train.layers_cli`), then
handed on: nothing after that point reads the command line, so every stage sees the same typed values and a
new option is one field here, not one more attribute looked up in several modules.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from .layers import DEFAULT_TOLERANCE
from .multilabel.thresholds import ThresholdTarget
from .pooling import Pooling
from .settings import ProbeSettings
from .static_training import StaticSpec

__all__ = ["Columns", "SweepRequest", "TrainJob"]


@dataclass(frozen=True)
class Columns:
    """Where the texts, labels and (optionally) per-row training weights are in a labelled file."""

    text: str = "text"
    label: str = "label"
    weight: str | None = None


@dataclass(frozen=True)
class SweepRequest:
    """A layer sweep (`probe layers`, `probe train --layer auto`): which encoder, which poolings and
    normalisations to try, and the probe's cross-validation seed."""

    model: str | None = None
    max_length: int | None = None
    batch_size: int = 32
    seed: int = 0
    cache: bool = True
    tolerance: float = DEFAULT_TOLERANCE
    poolings: tuple[str, ...] = tuple(Pooling.values())
    normalize: tuple[bool, ...] = (False, True)


@dataclass(frozen=True)
class TrainJob:
    """One `probe train` run.

    ``settings``: the method's settings, checked on creation (`ProbeSettings`/`FinetuneSettings`); with
    ``sweep`` set (``--layer auto``) its layer and pooling are what the sweep recommends, chosen on the
    training data. ``test``: a separate test file; None holds out ``test_size`` of ``data``.
    ``encoder_dir``: the encoder's directory when it is one on this machine (an input ``out`` must not touch).
    ``static``: train on a static table distilled from the encoder (``--encoder static``); None: the encoder.
    """

    data: str
    out: Path
    settings: ProbeSettings
    test: str | None = None
    test_size: float = 0.2
    columns: Columns = Columns()
    overwrite: bool = False
    sweep: SweepRequest | None = None
    cache: bool = True
    resume: bool = False
    encoder_dir: str | None = None
    static: StaticSpec | None = None
    # Multi-label data (`probe_train.multilabel`): None detects it from the data (``--multi-label``/``--single-label``
    # say); a label cell's separator (None: ``|``, not named), the 0/1 label columns, the thresholds' target.
    multi_label: bool | None = None
    label_separator: str | None = None
    label_columns: tuple[str, ...] = ()
    threshold_target: ThresholdTarget = field(default_factory=ThresholdTarget)
