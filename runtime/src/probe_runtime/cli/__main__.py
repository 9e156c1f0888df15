"""``python -m probe_runtime.cli``: the `probe-runtime` command, for environments without its script."""

from . import run

run()
