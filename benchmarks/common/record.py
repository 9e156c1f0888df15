"""The one results writer: a JSON record and its readable markdown table, both naming the machine.

Every entry point in benchmarks/ and research/ writes its results through ``write_results`` so that
each file says which CPU (and whether it has AMX) its figures came from: int8 speed-ups measured on
an AMX machine do not carry over to one without.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from benchmarks.common.host import host

__all__ = ["host_line", "write_results"]


def host_line(machine: dict[str, Any]) -> str:
    """One markdown line naming the CPU, AMX or not, and the core count."""
    amx = "AMX-INT8" if machine.get("amx_int8") else "no AMX"
    cpus, ort = machine["logical_cpus"], machine["onnxruntime"]
    return f"Measured on {machine['cpu']}, {cpus} logical CPUs ({amx}), onnxruntime {ort}."


def write_results(json_path: Path, record: dict[str, Any], markdown: str | None = None) -> dict[str, Any]:
    """Write ``record`` (plus a ``host`` entry: the machine writing it) to ``json_path``, ``markdown`` beside it.

    Returns the record as written. With ``markdown=None`` only the JSON is written (for reports whose
    document is built from several JSON files, such as docs/results.md).
    """
    record = {**record, "host": host()}
    json_path.parent.mkdir(parents=True, exist_ok=True)
    json_path.write_text(json.dumps(record, indent=1) + "\n", encoding="utf-8")
    if markdown is not None:
        text = markdown.rstrip("\n") + "\n\n" + host_line(record["host"]) + "\n"
        json_path.with_suffix(".md").write_text(text, encoding="utf-8")
    return record


_SECTION = re.compile(r"<!-- (?P<name>[\w-]+):start -->\n.*?<!-- (?P=name):end -->", re.S)


def write_section(document: Path, name: str, section: str, heading: str = "") -> None:
    """Replace the section ``name`` of ``document`` (between ``<!-- name:start/end -->``), or append it
    (after ``heading``, if given): one generated part of a document that other generators also write."""
    text = document.read_text(encoding="utf-8") if document.is_file() else ""
    start, end = f"<!-- {name}:start -->", f"<!-- {name}:end -->"
    block = f"{start}\n{section.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + block + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip("\n") + "\n\n" + (f"{heading}\n\n" if heading else "") + block + "\n"
    document.write_text(text, encoding="utf-8")


def keep_sections(old: str, new: str) -> str:
    """``new`` (a whole document regenerated), with the marked sections of ``old`` that it lacks appended,
    so rewriting a document never drops the parts other generators own."""
    kept = [m.group(0) for m in _SECTION.finditer(old) if f"<!-- {m.group('name')}:start -->" not in new]
    return new.rstrip("\n") + "".join(f"\n\n{block}" for block in kept) + "\n" if kept else new
