"""Write the single-file artifact: the graph plus the runtime's manifest and hashes in ``metadata_props``.

Sealing (hashes, metadata) and checking go through ``probe_runtime.loader.seal_artifact``: the very
checks the runtime runs at load, on the very bytes written here, so export cannot ship a file the
runtime would refuse (e.g. a manifest with more labels than the graph has outputs).
"""

from __future__ import annotations

from pathlib import Path

import onnx
from probe_runtime.artifact import Manifest
from probe_runtime.atomic import atomic_path
from probe_runtime.loader import seal_artifact

__all__ = ["write_artifact"]


def drop_unused_opsets(model: onnx.ModelProto) -> onnx.ModelProto:
    """Keep the default domain and the domains some node uses: onnxruntime's optimizer and quantizer import a
    handful more (``ai.onnx.ml`` 5 among them), which an older onnxruntime refuses although no node needs them."""
    used = {node.domain or "" for node in model.graph.node} | {"", "ai.onnx"}
    kept = [o for o in model.opset_import if (o.domain or "") in used]
    del model.opset_import[:]
    model.opset_import.extend(kept)
    return model


def write_artifact(graph: Path, manifest: Manifest, tokenizer_json: str, out: Path) -> Path:
    """Seal and check the artifact, then move the file into place only once it is complete."""
    # onnx.load pulls in any external data, so the bytes below are the whole, self-contained model.
    model = drop_unused_opsets(onnx.load(str(graph)))
    data = seal_artifact(model.SerializeToString(), manifest, tokenizer_json, str(out))
    with atomic_path(out) as tmp:
        tmp.write_bytes(data)
    return out
