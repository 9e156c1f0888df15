"""How an artifact is loaded: `Classifier.load`'s options as one frozen record that checks itself.

One record, so the library, every command (``probe-runtime classify``, ``bench``, ``serve``, ``classify --ray``:
`probe_runtime.cli.options.load_options`) and Ray's actors (`probe_runtime.ray.ModelSpec`) pass the same thing
and cannot drift apart. A bad value is a ``UsageError`` when the record is made, before any file is read.

What depends on the machine that loads the file is checked there, by `Classifier.load`: that ``threads`` is
no more than the cores this process may run on (`thread_count`), and that this onnxruntime has the
``providers`` asked for. A Ray driver on a small machine may so describe actors of a bigger one.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from .choices import LongTextPolicy, WindowAggregate
from .decision import check_threshold, check_thresholds
from .errors import UsageError
from .loader import DEFAULT_PROVIDERS, DEFAULT_SPINNING, check_spinning, provider_names
from .long_text import check_aggregate, check_max_windows, check_policy, check_stride

__all__ = ["LoadOptions", "available_cores", "thread_count", "whole_number"]


def whole_number(name: str, value: Any) -> int:
    """``value`` if it is an int of 1 or more (``UsageError`` naming ``name`` otherwise; True is no number)."""
    if not isinstance(value, int) or isinstance(value, bool) or value < 1:
        raise UsageError(f"{name} must be a whole number of 1 or more, not {value!r}")
    return value


def available_cores() -> int:
    """CPU cores this process may run on (the affinity mask, not the machine's count, under taskset/cgroups)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


def thread_count(value: Any) -> int:
    """``threads`` if the cores can run it: each thread is an onnxruntime pool thread and a worker, so
    beyond the cores this process may run on they only wait for each other, and a count like 10**6 asked
    for a million of them (15.8 GB before the first answer). Refused (``UsageError``) rather than clamped,
    so the number a deployment sets is the number it runs."""
    threads = whole_number("threads", value)
    cores = available_cores()
    if threads > cores:
        raise UsageError(
            f"threads {threads} is more than the {cores} CPU core{'s' if cores > 1 else ''} this process may run "
            f"on; use at most {cores}, or leave it out to use them all"
        )
    return threads


@dataclass(frozen=True)
class LoadOptions:
    """`Classifier.load`'s options; every field's None or default means "as the artifact says" or the runtime's.

    ``threads``: how many batches run at once, one core each (None: all cores).
    ``long_text`` (``truncate``/``window``), ``window_stride`` (tokens of overlap) and ``window_aggregate``
    (``max``/``mean``/``auto``) override the artifact's long-text policy; ``max_windows`` caps the windows read
    per text (None: 64; see ``probe_runtime.long_text``).
    ``providers``: onnxruntime execution providers in order of preference; each must be in
    ``onnxruntime.get_available_providers()`` where the file is loaded.
    ``threshold`` (0 to 1) replaces the artifact's decision rule: for two labels, the positive label (the
    recorded one, else the second) when its probability is at least ``threshold``; for more, the abstain label
    when the best probability is below it; for a multi-label file, every label's threshold.
    ``thresholds`` (multi-label files): ``{label: threshold}`` for some labels (by label or display name), over
    the file's and over ``threshold``; given for a single-label file, or naming a label the file lacks, the load
    is refused (``UsageError``). ``predict_proba`` is never affected.
    ``spinning``: let onnxruntime's pool threads busy-wait for work (``session.intra_op.allow_spinning`` and
    ``inter_op``) instead of sleeping; every text classified alone then runs on ``threads`` threads. Off by
    default: on an idle 2-core AMD EPYC it cut the back-to-back single-text p50 by a quarter but used ~0.9 cores
    while serving 20 requests a second (0.07 off), and on shared cores it was slower (docs/benchmarks.md); turn
    it on for a dedicated machine that answers back to back.
    ``self_check``: run the file's 24 short canary texts (tens of ms) and refuse it with ``CpuMismatchError``
    when this CPU answers them differently from the exporting machine (``probe_runtime.canary``); False loads it
    anyway (`Classifier.canary_check` stays None).
    """

    threads: int | None = None
    long_text: LongTextPolicy | None = None
    window_stride: int | None = None
    window_aggregate: WindowAggregate | None = None
    max_windows: int | None = None
    providers: tuple[str, ...] = DEFAULT_PROVIDERS
    threshold: float | None = None
    spinning: bool = DEFAULT_SPINNING
    self_check: bool = True
    thresholds: Mapping[str, float] | None = None

    def __post_init__(self) -> None:
        if self.threads is not None:
            whole_number("threads", self.threads)
        if self.max_windows is not None:
            check_max_windows(self.max_windows)
        if self.threshold is not None:
            check_threshold(self.threshold)
        if self.thresholds is not None:  # a plain dict of its own: the caller's mapping may change afterwards
            object.__setattr__(self, "thresholds", check_thresholds(self.thresholds) or None)
        check_spinning(self.spinning)
        if not isinstance(self.self_check, bool):
            raise UsageError(f"self_check must be True or False, not {self.self_check!r}")
        object.__setattr__(self, "providers", provider_names(self.providers))
        if self.long_text is not None:
            object.__setattr__(self, "long_text", LongTextPolicy(check_policy(self.long_text)))
        if self.window_stride is not None:
            check_stride(self.window_stride)
        if self.window_aggregate is not None:
            object.__setattr__(self, "window_aggregate", WindowAggregate(check_aggregate(self.window_aggregate)))
