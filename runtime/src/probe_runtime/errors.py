"""Exceptions that mean "the user can fix this": the CLIs print them without a traceback."""

from __future__ import annotations

__all__ = ["ArtifactError", "CpuMismatchError", "InputError", "ProbeError", "UsageError"]


class ProbeError(Exception):
    """Base of every error whose message is written for the person running probe."""


class ArtifactError(ProbeError):
    """The model file is missing, not a probe artifact, corrupted, tampered with, or of an unknown schema version."""


class CpuMismatchError(ArtifactError):
    """This CPU (or onnxruntime) answers the file's canary texts differently from the machine that exported it
    (``probe_runtime.canary``)."""


class InputError(ProbeError):
    """Texts or files handed to the classifier cannot be read as asked."""


class UsageError(ProbeError):
    """The command was asked for something that cannot work (an output that is an input, a bad option value).

    Raised before any work starts; CLIs exit 2 for it, like argparse's own usage errors.
    """
