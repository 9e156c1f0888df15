"""Training-side user errors share the runtime's base class, so one handler covers every CLI."""

from probe_runtime.errors import ProbeError

__all__ = ["DataError", "ProbeError"]


class DataError(ProbeError):
    """A labelled dataset cannot be used as given; the message names the file, the row and the fix."""
