"""`probe report`, `probe-runtime info --card/--card-out` and the estimator's report: one card, from what is stored."""

from __future__ import annotations

import json
import struct
from pathlib import Path

import numpy as np
import pytest
import yaml
from probe_export.cli import main
from probe_export.estimator import export_estimator, save_with_card
from probe_export.plots import DPI, SIZE
from probe_runtime import Classifier
from probe_runtime.cli import main as runtime_main
from probe_train.data import load_dataset
from probe_train.estimator import ProbeClassifier

PNG_PX = (int(SIZE[0] * DPI), int(SIZE[1] * DPI))


def png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n", f"{path} is not a PNG"
    return struct.unpack(">II", data[16:24])


def header(card: str) -> dict:
    return yaml.safe_load(card[4:].split("\n---\n", 1)[0])


def test_report_of_an_artifact_is_the_card_it_stores_plus_its_pictures(int8_model: Path, tmp_path: Path):
    out = tmp_path / "report"
    assert main(["report", str(int8_model), "--out", str(out)]) == 0
    assert (out / "README.md").read_text(encoding="utf-8") == Classifier.load(int8_model).manifest.card
    assert png_size(out / "confusion_matrix.png") == PNG_PX


def test_report_of_a_model_directory_draws_the_sweep_and_calibration_when_stored(tiny_trained: Path, tmp_path: Path):
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_trained, model)
    sweep = [{"layer": k, "pooling": p, "accuracy": 0.5 + 0.1 * k} for k in range(3) for p in ("mean", "cls")]
    (model / "sweep.json").write_text(json.dumps(sweep))
    report = json.loads((model / "report.json").read_text())
    report["calibration"] = {
        "reliability": [{"confidence": 0.6, "accuracy": 0.5}, {"confidence": 0.9, "accuracy": 0.95}]
    }
    (model / "report.json").write_text(json.dumps(report))
    assert main(["report", str(model)]) == 0
    folder = model / "card"
    card = (folder / "README.md").read_text(encoding="utf-8")
    for name in ("confusion_matrix", "layers", "reliability"):
        assert f"]({name}.png)" in card
        assert png_size(folder / f"{name}.png") == PNG_PX
    assert header(card)["labels"] == ["neg", "pos"]
    assert "Shipped" not in card  # not exported yet: no precision section


def test_a_real_sweep_and_a_calibrated_training_give_the_card_its_curve_and_reliability_diagram(
    tiny_trained: Path, tiny_encoder: Path, tiny_data, tmp_path: Path
):
    """No hand-written JSON: what `probe layers --out` and `probe train` (calibrating by default) store."""
    import shutil

    model = tmp_path / "model"
    shutil.copytree(tiny_trained, model)
    assert "reliability" in json.loads((model / "report.json").read_text())["calibration"]
    sweep = tmp_path / "sweep"
    train, _ = (str(p) for p in tiny_data)
    assert main(["layers", train, "--model", str(tiny_encoder), "--out", str(sweep), "--no-plot"]) == 0
    assert main(["report", str(model), "--sweep", str(sweep / "layers.json")]) == 0
    card = (model / "card" / "README.md").read_text(encoding="utf-8")
    for name in ("layers", "reliability"):
        assert f"]({name}.png)" in card
        assert png_size(model / "card" / f"{name}.png") == PNG_PX


def test_report_replaces_only_its_own_directory_and_only_with_overwrite(int8_model: Path, tmp_path: Path, capsys):
    out = tmp_path / "report"
    assert main(["report", str(int8_model), "--out", str(out), "--no-pictures"]) == 0
    assert main(["report", str(int8_model), "--out", str(out)]) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert main(["report", str(int8_model), "--out", str(out), "--overwrite"]) == 0
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "README.md").write_text("my project")
    assert main(["report", str(int8_model), "--out", str(mine), "--overwrite"]) == 2
    assert (mine / "README.md").read_text() == "my project"


def test_info_prints_the_card_and_writes_it_atomically(int8_model: Path, tmp_path: Path, capsys):
    card = Classifier.load(int8_model).manifest.card
    assert runtime_main(["info", str(int8_model), "--card"]) == 0
    assert capsys.readouterr().out == card
    out = tmp_path / "CARD.md"
    assert runtime_main(["info", str(int8_model), "--card-out", str(out)]) == 0
    assert out.read_text(encoding="utf-8") == card
    assert runtime_main(["info", str(int8_model), "--card-out", str(out)]) == 2
    assert runtime_main(["info", str(int8_model), "--card-out", str(out), "--overwrite"]) == 0


@pytest.mark.parametrize("kind", ["a user's README", "the model itself"])
def test_info_card_out_refuses_to_overwrite_anything_but_a_card(int8_model: Path, tmp_path: Path, capsys, kind: str):
    readme = tmp_path / "README.md"
    readme.write_text("# my project\n")
    out = readme if kind == "a user's README" else int8_model
    before = out.read_bytes()
    assert runtime_main(["info", str(int8_model), "--card-out", str(out), "--overwrite"]) == 2
    assert out.read_bytes() == before
    assert "--card-out" in capsys.readouterr().err


def _comparable(report: dict) -> dict:
    """A report without what names the run rather than the model: timings and where the rows came from."""
    drop = {"train_seconds", "test_source"}
    data = {
        split: {k: v for k, v in facts.items() if k not in ("source", "file_sha256")}
        for split, facts in report["data"].items()
    }
    return {k: v for k, v in report.items() if k not in drop} | {"data": data}


def test_the_estimators_report_equals_the_cli_s_for_the_same_data_and_seed(
    tiny_encoder: Path, tiny_data, tiny_trained: Path, tmp_path: Path
):
    train, test = (load_dataset(p) for p in tiny_data)
    clf = ProbeClassifier(model=str(tiny_encoder), seed=0).fit(train.texts, np.array(train.label_values()))
    saved = save_with_card(clf, tmp_path / "est", test.texts, np.array(test.label_values()))
    cli = json.loads((tiny_trained / "report.json").read_text())
    est = json.loads((saved / "report.json").read_text())
    assert _comparable(est) == _comparable(cli)
    assert est["data"]["train"]["rows_sha256"] == cli["data"]["train"]["rows_sha256"]
    card = (saved / "card" / "README.md").read_text(encoding="utf-8")
    assert main(["report", str(tiny_trained), "--out", str(tmp_path / "cli-card")]) == 0
    cli_card = (tmp_path / "cli-card" / "README.md").read_text(encoding="utf-8")

    def figures(text: str) -> tuple:
        results = header(text)["model-index"][0]["results"][0]
        tables = [
            line for line in text.split("## Test metrics")[1].split("## ")[0].splitlines() if line.startswith("|")
        ]
        return results["metrics"], tables

    assert figures(card) == figures(cli_card)  # the data's names differ: "evaluation data" vs test.csv
    assert png_size(saved / "card" / "confusion_matrix.png") == PNG_PX
    # ...and one call from the fitted estimator to a loaded artifact
    loaded = export_estimator(clf, tmp_path / "est.onnx", test.texts, np.array(test.label_values()), quantize="none")
    assert isinstance(loaded, Classifier) and loaded.manifest.card is not None
    assert list(loaded.predict(test.texts[:5])) == list(clf.predict(test.texts[:5]))
    assert not (tmp_path / "est.card").exists()  # one file; `probe report` writes the card out


def test_a_sweep_file_that_is_not_json_is_one_line_naming_it(int8_model: Path, tmp_path: Path, capsys):
    bad = tmp_path / "sweep.json"
    bad.write_text("{not json")
    assert main(["report", str(int8_model), "--out", str(tmp_path / "r"), "--sweep", str(bad)]) == 1
    err = capsys.readouterr().err.strip()
    assert str(bad) in err and "not a sweep's JSON" in err and len(err.splitlines()) == 1
    assert not (tmp_path / "r").exists()
