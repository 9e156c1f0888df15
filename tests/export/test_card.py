"""The model card: the artifact's own figures, in a Hugging Face card that parses back."""

from __future__ import annotations

import json
import re
import struct
from pathlib import Path

import pytest
import yaml
from probe_export.card import CARD_MARKER
from probe_export.cli import main
from probe_export.plots import DPI, SIZE
from probe_runtime import Classifier


def split_card(card: str) -> tuple[dict, str]:
    """(YAML header, Markdown body) of a card."""
    assert card.startswith("---\n")
    head, body = card[4:].split("\n---\n", 1)
    return yaml.safe_load(head), body


def table_after(body: str, heading: str) -> list[list[str]]:
    """The rows (without the header and rule) of the first Markdown table after ``heading``."""
    rest = body[body.index(heading) :]
    lines = [line for line in rest.splitlines() if line.startswith("|")]
    block = []
    for line in rest.splitlines()[rest.splitlines().index(lines[0]) :]:
        if not line.startswith("|"):
            break
        block.append([cell.strip() for cell in line.strip("|").split("|")])
    return block[2:]


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def test_export_stores_a_card_with_the_artifacts_own_figures(int8_model: Path):
    manifest = Classifier.load(int8_model).manifest
    assert manifest.card is not None and CARD_MARKER in manifest.card
    meta, body = split_card(manifest.card)
    t = manifest.training
    assert meta["pipeline_tag"] == "text-classification"
    assert meta["labels"] == [str(label) for label in manifest.labels]
    assert meta["datasets"] == ["train.csv", "test.csv"]
    metrics = {m["type"]: m["value"] for m in meta["model-index"][0]["results"][0]["metrics"]}
    assert metrics == {"accuracy": round(t.accuracy, 4), "f1": round(t.macro_f1, 4)}
    per_class = {row[0]: [float(v) for v in row[1:4]] + [int(row[4])] for row in table_after(body, "| class |")}
    assert per_class == {
        label: [round(c["precision"], 4), round(c["recall"], 4), round(c["f1"], 4), c["support"]]
        for label, c in t.per_class.items()
    }
    matrix = [[int(v) for v in row[1:]] for row in table_after(body, "Confusion matrix")]
    assert matrix == [list(row) for row in t.confusion_matrix]
    assert f"Shipped: **{manifest.quantization}**" in body
    flips = manifest.verification.precision.candidates[0].agreement.flip_rate
    assert f"{flips:.2%} of labels changed" in body
    speed = manifest.speed
    assert speed is not None and speed.cpu in body and f"{speed.texts_per_s:,.0f} texts/s" in body
    assert "truncated" in body


def test_the_base_encoder_is_recorded_by_content_never_by_path(int8_model: Path, tiny_encoder: Path):
    provenance = Classifier.load(int8_model).manifest.provenance
    assert provenance is not None
    weights = next(iter(provenance.weights_sha256.values()))
    assert re.fullmatch(r"[0-9a-f]{64}", weights)
    assert str(tiny_encoder) not in json.dumps(provenance.to_json_dict())
    card = Classifier.load(int8_model).manifest.card
    assert weights in card


def test_the_training_data_is_described_by_rows_labels_and_hashes(tiny_trained: Path, tiny_data):
    report = json.loads((tiny_trained / "report.json").read_text())
    train = report["data"]["train"]
    assert train["source"] == "train.csv" and train["rows"] == 120
    assert sum(train["label_counts"].values()) == 120
    from probe_train.provenance import file_sha256

    assert train["file_sha256"] == file_sha256(tiny_data[0])
    assert report["data"]["test"]["rows"] == 40


def test_export_writes_one_file_and_report_writes_its_card_beside_it(tiny_trained: Path, tmp_path: Path, capsys):
    out = tmp_path / "model.onnx"
    assert main(["export", str(tiny_trained), "--out", str(out), "--quantize", "none"]) == 0
    assert "probe report" in capsys.readouterr().out
    assert [p.name for p in tmp_path.iterdir()] == ["model.onnx"]
    assert main(["report", str(out)]) == 0
    folder = tmp_path / "model.card"
    card = (folder / "README.md").read_text(encoding="utf-8")
    assert card == Classifier.load(out).manifest.card
    assert "![confusion matrix](confusion_matrix.png)" in card
    assert png_size(folder / "confusion_matrix.png") == (int(SIZE[0] * DPI), int(SIZE[1] * DPI))


def test_report_leaves_a_users_folder_of_the_cards_name_alone(int8_model: Path, tmp_path: Path):
    import shutil

    out = tmp_path / "model.onnx"
    shutil.copy(int8_model, out)
    mine = tmp_path / "model.card"
    mine.mkdir()
    (mine / "notes.txt").write_text("mine")
    assert main(["report", str(out), "--overwrite"]) == 2
    assert [p.name for p in mine.iterdir()] == ["notes.txt"]


def test_old_artifacts_without_card_or_provenance_still_read(int8_model: Path):
    from dataclasses import replace

    manifest = replace(Classifier.load(int8_model).manifest, card=None, provenance=None, speed=None)
    data = manifest.to_json_dict()
    assert "card" not in data and "provenance" not in data and "speed" not in data


@pytest.mark.parametrize("bad", [{"name": "x", "weights_sha256": {"model.safetensors": "nothex"}}, {"hub_id": "x"}])
def test_a_damaged_provenance_is_one_error_naming_the_field(bad):
    from probe_runtime.errors import ArtifactError
    from probe_runtime.records import Provenance

    with pytest.raises(ArtifactError, match="provenance"):
        Provenance.parse(bad, "provenance")
