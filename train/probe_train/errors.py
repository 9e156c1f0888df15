"""Training-side user errors share the runtime's base class, so one handler covers every CLI.

A library names a setting by its FIELD (``max_length``), not by a command line's flag (``--max-length``):
`FieldError` carries the fields its message names, and a CLI shows them as its flags (`cli_options.flags_shown`)
while a Python caller reads the field names it passed.
"""

from __future__ import annotations

from collections.abc import Callable

from probe_runtime.errors import ProbeError, UsageError

__all__ = ["DataError", "DataFieldError", "FieldError", "FieldUsageError", "ProbeError"]


class DataError(ProbeError):
    """A labelled dataset cannot be used as given; the message names the file, the row and the fix."""


class FieldError(ProbeError):
    """A setting cannot work as given. ``template`` names each field as ``{field}``; the message shows the
    field names (a library's caller passed those), until a CLI renames them to its flags (`name_fields`)."""

    def __init__(self, template: str, *fields: str) -> None:
        self.template, self.fields = template, fields
        super().__init__(self._render(lambda field: field))

    def _render(self, name: Callable[[str], str]) -> str:
        text = self.template
        for field in self.fields:
            text = text.replace("{" + field + "}", name(field))
        return text

    def name_fields(self, name: Callable[[str], str]) -> None:
        """Show each field as ``name(field)`` (a CLI: its flag) from now on."""
        self.args = (self._render(name),)


class DataFieldError(FieldError, DataError):
    """A `DataError` whose fix is a setting: the message names its field (a CLI shows the flag)."""


class FieldUsageError(FieldError, UsageError):
    """A `FieldError` found before any work starts: CLIs exit 2 for it, like argparse's own usage errors."""
