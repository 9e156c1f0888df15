"""Check an artifact's bytes before anything parses them for real: hashes, metadata, no external data.

An ONNX file is a protobuf ``ModelProto``. The runtime may not depend on ``onnx`` (or ``protobuf``):
it installs with onnxruntime, tokenizers and numpy only, and pulling in either would double its
install size for the few fields we need. So this module hand-rolls the *wire format*, the part of
protobuf that is a stable, documented byte layout (https://protobuf.dev/programming-guides/encoding/):
a message is a run of ``(tag, value)`` fields, a tag is ``field_number << 3 | wire_type``, and a
length-delimited value is a length then that many bytes. Walking that is ~40 lines and needs no schema
beyond the handful of field numbers named below (from onnx/onnx.proto, stable since ONNX 1.0).

What it gives the loader:

- ``graph_sha256``: a SHA-256 over every top-level field of the model *except* ``metadata_props``
  (field 14), in file order, tag and length included. The graph, opsets, IR version and producer are
  covered; the metadata is not, because the hashes themselves live there (the manifest and tokenizer
  get hashes of their own). Hashing the raw field bytes, not a re-serialization, means the exporter
  and the runtime agree byte for byte with no serializer in the loop.
- ``metadata``: the ``metadata_props`` key/value strings, read without creating an onnxruntime
  session, so nothing untrusted reaches onnxruntime before the hashes are checked.
- ``external_tensors``: names of tensors whose data lives in another file. onnxruntime would read such
  files relative to the model or the working directory; a probe artifact is one self-contained file,
  so the runtime refuses them instead of reading anything outside it.
- ``seal``: the exporter's side: graph bytes plus metadata entries appended as raw fields, so the
  graph fields (and hence ``graph_sha256``) are exactly the bytes the exporter hashed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

from .errors import ArtifactError

__all__ = [
    "UNREADABLE",
    "GraphFacts",
    "MalformedModel",
    "external_tensors",
    "graph_facts",
    "graph_sha256",
    "metadata",
    "opsets",
    "seal",
    "text_sha256",
]

# How a file that is not a readable ONNX model is refused (here for a malformed protobuf, by
# `probe_runtime.graph_session` for a graph onnxruntime rejects): one wording for both.
UNREADABLE = "{source} is not a readable ONNX model (corrupted, truncated, or not ONNX at all): {detail}"

# onnx.proto field numbers.
_MODEL_IR_VERSION, _MODEL_OPSET_IMPORT, _OPSET_DOMAIN, _OPSET_VERSION = 1, 8, 1, 2
_MODEL_GRAPH, _MODEL_METADATA, _MODEL_TRAINING_INFO, _MODEL_FUNCTIONS = 7, 14, 20, 25
_GRAPH_NODE, _GRAPH_INITIALIZER, _GRAPH_SPARSE_INITIALIZER = 1, 5, 15
_NODE_ATTRIBUTE = 5
_ATTR_TENSOR, _ATTR_GRAPH, _ATTR_TENSORS, _ATTR_GRAPHS, _ATTR_SPARSE, _ATTR_SPARSES = 5, 6, 10, 11, 22, 23
_FUNCTION_NODE = 7
_TRAINING_INIT, _TRAINING_ALGORITHM = 1, 2
_SPARSE_VALUES, _SPARSE_INDICES = 1, 2
_TENSOR_NAME, _TENSOR_EXTERNAL_DATA, _TENSOR_DATA_LOCATION = 8, 13, 14
_EXTERNAL = 1  # TensorProto.DataLocation.EXTERNAL
_ENTRY_KEY, _ENTRY_VALUE = 1, 2
_VARINT, _FIXED64, _LEN, _FIXED32 = 0, 1, 2, 5
_MAX_NESTING = 64  # subgraphs inside subgraphs (If/Loop bodies); real models nest a few levels


class MalformedModel(ArtifactError):
    """The bytes are not a well-formed protobuf message (corrupted, truncated, or not ONNX at all)."""


def _varint(buf: memoryview, pos: int, end: int) -> tuple[int, int]:
    value = shift = 0
    while True:
        if pos >= end or shift > 63:
            raise MalformedModel("a varint runs past the end of its message")
        byte = buf[pos]
        pos += 1
        value |= (byte & 0x7F) << shift
        if byte < 0x80:
            return value, pos
        shift += 7


def _fields(buf: memoryview, start: int, end: int) -> Iterator[tuple[int, int, int, int, int]]:
    """``(field_number, wire_type, field_start, value_start, value_end)`` for each field of one message.

    For a varint the "value" span is its encoded bytes; for fixed widths, the 4 or 8 bytes.
    """
    pos = start
    while pos < end:
        field_start = pos
        tag, pos = _varint(buf, pos, end)
        number, wire = tag >> 3, tag & 7
        if number == 0:
            raise MalformedModel("field number 0")
        if wire == _VARINT:
            _, stop = _varint(buf, pos, end)
        elif wire == _LEN:
            length, pos = _varint(buf, pos, end)
            stop = pos + length
        elif wire == _FIXED64:
            stop = pos + 8
        elif wire == _FIXED32:
            stop = pos + 4
        else:  # groups (3, 4) are deprecated and never used by ONNX; 6, 7 do not exist
            raise MalformedModel(f"unsupported wire type {wire}")
        if stop > end:
            raise MalformedModel("a field runs past the end of its message")
        yield number, wire, field_start, pos, stop
        pos = stop


@dataclass(frozen=True)
class GraphFacts:
    """Every fact the loader checks about a model's bytes, read in one pass (`graph_facts`).

    ``unreadable`` is set when the graph's insides (below the top-level fields) are malformed: the
    loader reports it only after the hash checks, which name a modified file more precisely.
    """

    metadata: dict[str, str]
    graph_sha256: str
    ir_version: int
    opsets: dict[str, int]
    external_tensors: tuple[str, ...]
    unreadable: str | None = None


def graph_facts(data: bytes, source: str) -> GraphFacts:
    """The facts of ``data`` (``source`` names the file); top-level damage is an `ArtifactError` at once."""
    buf = memoryview(data)
    try:
        fields = _top_level(data)  # parsed once: every fact below reads these spans
        props = _metadata(buf, fields)
    except MalformedModel as exc:
        raise ArtifactError(UNREADABLE.format(source=source, detail=str(exc)[:200])) from None
    graph = _graph_sha256(buf, fields)
    ir_version, unreadable = 0, None
    versions: dict[str, int] = {}
    outside: tuple[str, ...] = ()
    try:  # damage in here is covered by the graph hash, which is checked first
        (ir_version, versions), outside = _opsets(buf, fields), tuple(_external_tensors(buf))
    except MalformedModel as exc:
        unreadable = UNREADABLE.format(source=source, detail=str(exc)[:200])
    return GraphFacts(props, graph, ir_version, versions, outside, unreadable)


_Field = tuple[int, int, int, int, int]  # what `_fields` yields for one field


def _top_level(data: bytes) -> list[_Field]:
    buf = memoryview(data)
    fields = list(_fields(buf, 0, len(buf)))
    if not any(number == _MODEL_GRAPH and wire == _LEN for number, wire, *_ in fields):
        raise MalformedModel("no graph")
    return fields


def graph_sha256(data: bytes) -> str:
    """SHA-256 (hex) of every top-level field of an ONNX model except ``metadata_props``, in file order."""
    return _graph_sha256(memoryview(data), _top_level(data))


def _graph_sha256(buf: memoryview, fields: list[_Field]) -> str:
    digest = hashlib.sha256()
    for number, _, field_start, _, stop in fields:
        if number != _MODEL_METADATA:
            digest.update(buf[field_start:stop])
    return digest.hexdigest()


def text_sha256(text: str) -> str:
    """SHA-256 (hex) of a string's UTF-8 bytes: how the manifest and tokenizer JSON are hashed."""
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def metadata(data: bytes) -> dict[str, str]:
    """The model's ``metadata_props`` (a later duplicate key wins, as in protobuf's own parsers)."""
    return _metadata(memoryview(data), _top_level(data))


def _metadata(buf: memoryview, fields: list[_Field]) -> dict[str, str]:
    props: dict[str, str] = {}
    for number, wire, _, start, stop in fields:
        if number != _MODEL_METADATA or wire != _LEN:
            continue
        entry = {_ENTRY_KEY: "", _ENTRY_VALUE: ""}
        for inner, inner_wire, _, value_start, value_stop in _fields(buf, start, stop):
            if inner in entry and inner_wire == _LEN:
                try:
                    entry[inner] = str(buf[value_start:value_stop], "utf-8")
                except UnicodeDecodeError:
                    raise MalformedModel("a metadata entry is not UTF-8") from None
        props[entry[_ENTRY_KEY]] = entry[_ENTRY_VALUE]
    return props


def opsets(data: bytes) -> tuple[int, dict[str, int]]:
    """The model's IR version and its ``opset_import`` as ``{domain: version}`` (``""`` is the default domain,
    ``ai.onnx`` spelled out is folded into it): what decides which onnxruntime can read it."""
    return _opsets(memoryview(data), _top_level(data))


def _opsets(buf: memoryview, fields: list[_Field]) -> tuple[int, dict[str, int]]:
    ir_version, versions = 0, {}
    for number, wire, _, start, stop in fields:
        if number == _MODEL_IR_VERSION and wire == _VARINT:
            ir_version = _varint(buf, start, stop)[0]
        elif number == _MODEL_OPSET_IMPORT and wire == _LEN:
            domain, version = "", 0
            for inner, inner_wire, _, value_start, value_stop in _fields(buf, start, stop):
                if inner == _OPSET_DOMAIN and inner_wire == _LEN:
                    domain = str(buf[value_start:value_stop], "utf-8", errors="replace")
                elif inner == _OPSET_VERSION and inner_wire == _VARINT:
                    version = _varint(buf, value_start, value_stop)[0]
            versions["" if domain == "ai.onnx" else domain] = version
    return ir_version, versions


# What to look into, per message kind: field number -> kind of the sub-message.
_CHILDREN: dict[str, dict[int, str]] = {
    "model": {_MODEL_GRAPH: "graph", _MODEL_FUNCTIONS: "function", _MODEL_TRAINING_INFO: "training"},
    "graph": {_GRAPH_NODE: "node", _GRAPH_INITIALIZER: "tensor", _GRAPH_SPARSE_INITIALIZER: "sparse"},
    "node": {_NODE_ATTRIBUTE: "attribute"},
    "attribute": {
        _ATTR_TENSOR: "tensor",
        _ATTR_TENSORS: "tensor",
        _ATTR_GRAPH: "graph",
        _ATTR_GRAPHS: "graph",
        _ATTR_SPARSE: "sparse",
        _ATTR_SPARSES: "sparse",
    },
    "function": {_FUNCTION_NODE: "node"},
    "training": {_TRAINING_INIT: "graph", _TRAINING_ALGORITHM: "graph"},
    "sparse": {_SPARSE_VALUES: "tensor", _SPARSE_INDICES: "tensor"},
}


def _external_tensor_name(buf: memoryview, start: int, stop: int) -> str | None:
    """A ``TensorProto``'s name if its data lives in another file (``(unnamed)`` without one), else None."""
    name, external = "", False
    for number, wire, _, value_start, value_stop in _fields(buf, start, stop):
        if number == _TENSOR_NAME and wire == _LEN:
            name = str(buf[value_start:value_stop], "utf-8", "replace")
        elif number == _TENSOR_EXTERNAL_DATA:
            external = True
        elif number == _TENSOR_DATA_LOCATION and wire == _VARINT:
            external = external or _varint(buf, value_start, value_stop)[0] == _EXTERNAL
    return (name or "(unnamed)") if external else None


def external_tensors(data: bytes) -> list[str]:
    """Names of the tensors (initializers, constants, in subgraphs and functions too) stored outside the file."""
    _top_level(data)  # validates the outer message first
    return _external_tensors(memoryview(data))


def _external_tensors(buf: memoryview) -> list[str]:
    found: list[str] = []

    def walk(kind: str, start: int, stop: int, depth: int) -> None:
        if depth > _MAX_NESTING:
            raise MalformedModel(f"subgraphs nested more than {_MAX_NESTING} deep")
        if kind == "tensor":
            name = _external_tensor_name(buf, start, stop)
            if name is not None:
                found.append(name)
            return
        children = _CHILDREN[kind]
        for number, wire, _, value_start, value_stop in _fields(buf, start, stop):
            if number in children and wire == _LEN:
                walk(children[number], value_start, value_stop, depth + 1)

    walk("model", 0, len(buf), 0)
    return found


def _encode_varint(value: int) -> bytes:
    out = bytearray()
    while True:
        byte = value & 0x7F
        value >>= 7
        if value:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _len_field(number: int, payload: bytes) -> bytes:
    return _encode_varint(number << 3 | _LEN) + _encode_varint(len(payload)) + payload


def seal(graph: bytes, props: Mapping[str, str]) -> bytes:
    """``graph`` with its metadata replaced: other keys kept, ``props`` appended after every other field.

    The non-metadata fields are copied byte for byte, so ``graph_sha256`` of the result equals
    ``graph_sha256(graph)``: the exporter can hash first and seal afterwards.
    """
    buf = memoryview(graph)
    kept = {k: v for k, v in metadata(graph).items() if k not in props}
    fields = _top_level(graph)
    parts = [buf[field_start:stop] for number, _, field_start, _, stop in fields if number != _MODEL_METADATA]
    for key, value in {**kept, **props}.items():
        entry = _len_field(_ENTRY_KEY, key.encode("utf-8")) + _len_field(_ENTRY_VALUE, value.encode("utf-8"))
        parts.append(memoryview(_len_field(_MODEL_METADATA, entry)))
    return b"".join(parts)
