"""Exceptions that mean "the user can fix this": the CLIs print them without a traceback."""

from __future__ import annotations

__all__ = ["ArtifactError", "InputError", "ProbeError"]


class ProbeError(Exception):
    """Base of every error whose message is written for the person running probe."""


class ArtifactError(ProbeError):
    """The model file is missing, not a probe artifact, corrupted, or of an unknown schema version."""


class InputError(ProbeError):
    """Texts or files handed to the classifier cannot be read as asked."""
