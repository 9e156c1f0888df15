"""Write the single-file artifact: the graph plus the runtime's manifest in ``metadata_props``."""

from __future__ import annotations

from pathlib import Path

import onnx
from probe_runtime.artifact import Manifest
from probe_runtime.atomic import atomic_path

__all__ = ["write_artifact"]


def write_artifact(graph: Path, manifest: Manifest, tokenizer_json: str, out: Path) -> Path:
    """Attach the manifest and move the file into place only once it is complete."""
    model = onnx.load(str(graph))
    props = manifest.to_metadata(tokenizer_json)
    kept = [p for p in model.metadata_props if p.key not in props]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    for key, value in props.items():
        model.metadata_props.add(key=key, value=value)
    with atomic_path(out) as tmp:
        onnx.save_model(model, str(tmp))
    return out
