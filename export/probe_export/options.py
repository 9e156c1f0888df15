"""What `probe export` is asked to do: the export's options (`ExportOptions`, also the estimator's) and the
whole request (`ExportRequest`), each one frozen record checked on creation.

The command line builds the request once (`export_cli.export_request`); nothing after reads the command line.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from probe_runtime.choices import LongTextPolicy, WindowAggregate
from probe_train.errors import FieldUsageError

from . import AUTO, LONG_TEXT_CHOICES, QUANTIZE_CHOICES, WINDOW_AGGREGATE_CHOICES

if TYPE_CHECKING:
    from .gate import GateLimits

__all__ = ["ExportOptions", "ExportRequest"]


@dataclass(frozen=True)
class ExportOptions:
    """How to export. ``quantize``: ``auto`` (the fastest batch-independent precision that passes the gate),
    or exactly ``int8-per-token``, ``int8`` (batch-dependent) or ``none`` (fp32). The gate refuses a
    candidate that changes more than ``max_flip_rate`` percent of labels against fp32, or whose accuracy
    loss on the labelled texts is significant at ``significance`` (McNemar; `probe_export.gate`)."""

    quantize: str = AUTO
    fp32_tolerance: float = 1e-4
    eval_file: str | None = None
    text_column: str = "text"
    label_column: str = "label"
    long_text: str = LongTextPolicy.TRUNCATE.value
    window_stride: int = 0
    window_aggregate: str = WindowAggregate.AUTO.value
    max_flip_rate: float = 3.0
    significance: float = 0.05

    def __post_init__(self) -> None:
        if self.quantize not in QUANTIZE_CHOICES:
            choices = ", ".join(QUANTIZE_CHOICES)
            raise FieldUsageError(f"{{quantize}} must be one of {choices}, not {self.quantize!r}", "quantize")
        if not 0 <= self.max_flip_rate <= 100:
            raise FieldUsageError(
                f"{{max_flip_rate}} must be a percentage between 0 and 100, not {self.max_flip_rate}", "max_flip_rate"
            )
        if not 0 <= self.significance < 1:
            raise FieldUsageError(
                f"{{significance}} must be at least 0 and below 1, not {self.significance}", "significance"
            )
        if self.long_text not in LONG_TEXT_CHOICES:
            raise FieldUsageError(
                f"{{long_text}} must be {_either(LONG_TEXT_CHOICES)}, not {self.long_text!r}", "long_text"
            )
        if self.window_aggregate not in WINDOW_AGGREGATE_CHOICES:
            choices = _either(WINDOW_AGGREGATE_CHOICES)
            raise FieldUsageError(
                f"{{window_aggregate}} must be {choices}, not {self.window_aggregate!r}", "window_aggregate"
            )
        if self.window_stride < 0:
            raise FieldUsageError(
                f"{{window_stride}} must be 0 (default) or more, not {self.window_stride}", "window_stride"
            )

    @property
    def limits(self) -> GateLimits:
        from .gate import GateLimits  # scipy: loaded when an export runs, not when the command line is parsed

        return GateLimits(max_flip_rate=self.max_flip_rate / 100, alpha=self.significance)


def _either(choices: tuple[str, ...]) -> str:
    """``a, b or c``: the choices in a sentence."""
    return f"{', '.join(choices[:-1])} or {choices[-1]}"


@dataclass(frozen=True)
class ExportRequest:
    """One `probe export`: the model directory, the file to write (replacing only an earlier probe artifact,
    and only with ``overwrite``), how to export, and whether to print the verification figures as JSON."""

    model_dir: Path
    out: Path
    options: ExportOptions = ExportOptions()
    overwrite: bool = False
    json: bool = False
