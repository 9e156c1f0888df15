"""The built-in sample texts shipped with the runtime: `probe-runtime bench`'s default input and the canary texts
every exported file checks itself with (``probe_runtime.canary``). Public, written for this project."""

from __future__ import annotations

from importlib import resources

__all__ = ["sample_texts"]


def sample_texts() -> list[str]:
    """The built-in sample shipped with the runtime (short, varied English texts)."""
    raw = resources.files("probe_runtime").joinpath("sample_texts.txt").read_text(encoding="utf-8")
    return [line.strip() for line in raw.splitlines() if line.strip() and not line.startswith("# ")]
