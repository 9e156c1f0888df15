"""Where `probe export` may write: checked before minutes of export work, never at the user's expense.

- ``--out`` may not be, be inside, or contain the model directory, its encoder or the ``--eval`` file
  (``probe export M --out M/config.json`` would overwrite the model's own config);
- an existing ``--out`` is replaced only with ``--overwrite`` and only if it is a probe artifact,
  recognised by the manifest key the runtime reads (``probe.schema_version``), not by its name.
"""

from __future__ import annotations

import json
from pathlib import Path

from probe_runtime.artifact import KEY_SCHEMA
from probe_runtime.guard import refuse_existing_output, refuse_output_over_inputs, refuse_unwritable_output

__all__ = ["guard_export_output", "is_probe_artifact"]

KIND = "probe artifact (.onnx)"


def is_probe_artifact(path: Path) -> bool:
    """Whether ``path`` is an ONNX file carrying probe's manifest; anything unreadable is not."""
    import onnx

    if not path.is_file() or path.is_symlink():
        return False
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception:  # onnx raises protobuf's DecodeError, ValueError, ...: all mean "not ours"
        return False
    return any(prop.key == KEY_SCHEMA for prop in model.metadata_props)


def _encoder_of(model_dir: Path) -> str | None:
    """The local encoder directory a probe-method model refers to (an input too), if there is one."""
    try:
        encoder = json.loads((model_dir / "config.json").read_text(encoding="utf-8")).get("encoder")
    except (OSError, ValueError, AttributeError):
        return None
    return encoder if isinstance(encoder, str) and encoder and Path(encoder).exists() else None


def guard_export_output(model_dir: str | Path, out: str | Path, eval_file: str | None, *, overwrite: bool) -> None:
    """Every check on ``out``, as `UsageError`, before the model is even loaded."""
    model_dir = Path(model_dir)
    inputs = {"model directory": model_dir, "encoder": _encoder_of(model_dir), "--eval file": eval_file}
    refuse_output_over_inputs(out, inputs)
    refuse_unwritable_output(Path(out))
    refuse_existing_output(out, overwrite=overwrite, is_own_kind=is_probe_artifact, kind=KIND)
