"""Build damaged and tampered artifacts from a good one, the way a corrupted download or a hand edit would.

Tests may use ``onnx`` (the runtime may not). ``rewrite`` re-stamps the recorded hashes by default, so
a test reaches the check *behind* the hashes (a deliberately edited manifest, an exporter bug);
``flip`` changes bytes in place without re-stamping, like disk or network corruption.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import onnx
from probe_runtime.artifact import (
    KEY_GRAPH_SHA256,
    KEY_MANIFEST,
    KEY_MANIFEST_SHA256,
    KEY_TOKENIZER,
    KEY_TOKENIZER_SHA256,
)
from probe_runtime.integrity import graph_sha256, text_sha256


def props_of(path: Path) -> dict[str, str]:
    return {p.key: p.value for p in onnx.load(str(path), load_external_data=False).metadata_props}


def write_props(model: onnx.ModelProto, props: dict[str, str | None], dst: Path, restamp: bool = True) -> Path:
    """Replace the model's metadata with ``props`` (None deletes a key); re-stamp the hashes if asked."""
    kept = {k: v for k, v in props.items() if v is not None}
    del model.metadata_props[:]
    for key, value in kept.items():
        model.metadata_props.add(key=key, value=value)
    if restamp:
        data = model.SerializeToString()
        stamps = {KEY_GRAPH_SHA256: graph_sha256(data)}
        if KEY_MANIFEST in kept:
            stamps[KEY_MANIFEST_SHA256] = text_sha256(kept[KEY_MANIFEST])
        if KEY_TOKENIZER in kept:
            stamps[KEY_TOKENIZER_SHA256] = text_sha256(kept[KEY_TOKENIZER])
        for entry in model.metadata_props:
            if entry.key in stamps:
                entry.value = stamps.pop(entry.key)
        for key, value in stamps.items():
            model.metadata_props.add(key=key, value=value)
    dst.write_bytes(model.SerializeToString())
    return dst


def rewrite(
    src: Path,
    dst: Path,
    *,
    manifest: dict[str, Any] | Callable[[dict[str, Any]], Any] | None = None,
    tokenizer: Callable[[dict[str, Any]], Any] | None = None,
    props: dict[str, str | None] | None = None,
    restamp: bool = True,
) -> Path:
    """A copy of ``src`` with manifest fields replaced (a dict) or edited in place (a function), the
    tokenizer JSON edited by a function, or raw metadata entries replaced."""
    model = onnx.load(str(src))
    stored = {p.key: p.value for p in model.metadata_props}
    current: dict[str, str | None] = dict(stored)
    if manifest is not None:
        data = json.loads(stored[KEY_MANIFEST])
        if callable(manifest):
            manifest(data)
        else:
            data.update(manifest)
        current[KEY_MANIFEST] = json.dumps(data, ensure_ascii=False, sort_keys=True)
    if tokenizer is not None:
        spec = json.loads(stored[KEY_TOKENIZER])
        tokenizer(spec)
        current[KEY_TOKENIZER] = json.dumps(spec, ensure_ascii=False)
    current.update(props or {})
    return write_props(model, current, dst, restamp)


def flip(src: Path, dst: Path, needle: bytes, replacement: bytes, occurrence: int = 0) -> Path:
    """Copy ``src`` with one occurrence of ``needle`` replaced by same-length ``replacement`` (no re-stamp)."""
    assert len(needle) == len(replacement)
    data = bytearray(src.read_bytes())
    at = -1
    for _ in range(occurrence + 1):
        at = data.index(needle, at + 1)
    data[at : at + len(needle)] = replacement
    dst.write_bytes(bytes(data))
    return dst


def flip_weight_bytes(src: Path, dst: Path, count: int = 1) -> Path:
    """Copy ``src`` with ``count`` bytes inverted in the middle of its largest weight tensor."""
    model = onnx.load(str(src))
    tensor = max(model.graph.initializer, key=lambda t: len(t.raw_data))
    data = bytearray(src.read_bytes())
    start = data.index(tensor.raw_data) + len(tensor.raw_data) // 2 - count // 2
    for i in range(start, start + count):
        data[i] ^= 0xFF
    dst.write_bytes(bytes(data))
    return dst


def rewrite_keeping_size_and_mtime(path: Path, content: bytes) -> None:
    """An in-place edit a size+mtime check cannot see: same length, timestamps put back."""
    import os

    stat = path.stat()
    assert len(content) == stat.st_size
    path.write_bytes(content)
    os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))


def model_variant(source: Path, note: str) -> bytes:
    """The same classifier with one extra (same-length) metadata entry: other bytes, still a valid artifact
    (the graph, tokenizer and manifest are untouched, so any integrity check still passes)."""
    model = onnx.load(str(source))
    entry = model.metadata_props.add()
    entry.key, entry.value = "edition", note
    return model.SerializeToString()


def output_per_token(src: Path, dst: Path) -> Path:
    """A copy whose ``probabilities`` output is ``[batch, sequence]`` instead of ``[batch, labels]``: a softmax
    over the attention mask, so every row still sums to 1 (hashes re-stamped: it passes every hash check).
    On a two-token input it is as wide as a two-label graph's output."""
    from onnx import TensorProto, helper

    model = onnx.load(str(src))
    graph = model.graph
    (softmax,) = [node for node in graph.node if "probabilities" in node.output]
    softmax.output[list(softmax.output).index("probabilities")] = "probabilities_per_label"
    graph.node.extend(
        [
            helper.make_node("Cast", ["attention_mask"], ["mask_float"], to=TensorProto.FLOAT),
            helper.make_node("Softmax", ["mask_float"], ["probabilities"], axis=-1),
        ]
    )
    output = next(o for o in graph.output if o.name == "probabilities")
    dims = output.type.tensor_type.shape.dim
    dims[1].Clear()
    dims[1].dim_param = "sequence"
    return write_props(model, {p.key: p.value for p in model.metadata_props}, dst)


def output_wider_on_long_inputs(src: Path, dst: Path) -> Path:
    """A copy whose ``probabilities`` output gains a column per token beyond the fourth: right on the load
    check's 2- and 3-token inputs, wrong on real texts (hashes re-stamped)."""
    from onnx import TensorProto, helper

    model = onnx.load(str(src))
    graph = model.graph
    (softmax,) = [node for node in graph.node if "probabilities" in node.output]
    softmax.output[list(softmax.output).index("probabilities")] = "probabilities_per_label"
    graph.initializer.extend(
        [
            helper.make_tensor("from_fifth", TensorProto.INT64, [1], [4]),
            helper.make_tensor("to_end", TensorProto.INT64, [1], [2**62]),
            helper.make_tensor("token_axis", TensorProto.INT64, [1], [1]),
        ]
    )
    graph.node.extend(
        [
            helper.make_node("Cast", ["attention_mask"], ["mask_float"], to=TensorProto.FLOAT),
            helper.make_node("Slice", ["mask_float", "from_fifth", "to_end", "token_axis"], ["beyond_fourth"]),
            helper.make_node("Concat", ["probabilities_per_label", "beyond_fourth"], ["probabilities"], axis=1),
        ]
    )
    return write_props(model, {p.key: p.value for p in model.metadata_props}, dst)
