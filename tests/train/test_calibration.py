"""Temperature scaling recovers a known temperature; ECE (15 equal-width bins) and Brier are the textbook
figures; `probe train` reports calibration, curves and the operating point, and draws the diagram."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from probe_train.calibration import (
    brier_score,
    expected_calibration_error,
    fit_temperature,
    reliability_diagram_png,
    scaled,
)


def _sampled(temperature: float, n: int = 20000, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Logits, and labels drawn from softmax(logits / temperature): T is the right answer by construction."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(0, 3, (n, 3))
    proba = scaled(logits, temperature)
    y = np.array([rng.choice(3, p=row) for row in proba])
    return logits, y


@pytest.mark.parametrize("true_t", [0.5, 2.0])
def test_fit_temperature_recovers_the_temperature_the_labels_were_drawn_with(true_t: float) -> None:
    logits, y = _sampled(true_t)
    assert fit_temperature(logits, y) == pytest.approx(true_t, rel=0.08)


def test_scaling_lowers_the_calibration_error_of_an_overconfident_model() -> None:
    logits, y = _sampled(2.0)
    before = expected_calibration_error(scaled(logits, 1.0), y)
    after = expected_calibration_error(scaled(logits, fit_temperature(logits, y)), y)
    assert after < before / 3 and after < 0.02
    assert brier_score(scaled(logits, 2.0), y) < brier_score(scaled(logits, 1.0), y)


def test_ece_uses_fifteen_equal_width_bins_of_the_top_probability() -> None:
    # Two texts in the bin [0.8, 0.8667): confidence 0.85 each, one right → |0.5 - 0.85| = 0.35, half the texts;
    # two in the top bin: confidence 0.95, both right → 0.05, half the texts. ECE = 0.2.
    proba = np.array([[0.85, 0.15], [0.85, 0.15], [0.95, 0.05], [0.05, 0.95]])
    y = np.array([0, 1, 0, 1])
    assert expected_calibration_error(proba, y) == pytest.approx(0.5 * 0.35 + 0.5 * 0.05)


def test_brier_is_the_squared_error_summed_over_classes() -> None:
    proba = np.array([[0.8, 0.2], [0.4, 0.6]])
    assert brier_score(proba, np.array([0, 0])) == pytest.approx(((0.04 + 0.04) + (0.36 + 0.36)) / 2)


def test_the_reliability_diagram_is_a_png() -> None:
    logits, y = _sampled(2.0, n=500)
    assert reliability_diagram_png(logits, y, 2.0, "test").startswith(b"\x89PNG")


def test_train_reports_calibration_curves_and_the_operating_point(
    tiny_encoder: Path, tiny_data: tuple[Path, Path], tmp_path: Path
) -> None:
    from probe_export.cli import main

    train, test = tiny_data
    out = tmp_path / "model"
    args = ["train", str(train), "--test", str(test), "--model", str(tiny_encoder), "--out", str(out)]
    assert main([*args, "--operating-point", "recall=0.9", "--class-weight", "balanced"]) == 0
    report = json.loads((out / "report.json").read_text())
    c = report["calibration"]
    assert c["ece_bins"].startswith("15 equal-width bins") and c["temperature"] > 0
    assert {"ece_before", "ece_after", "brier_before", "brier_after"} <= c.keys()
    assert 0.5 <= report["roc_auc"] <= 1 and report["roc_curve"]["fpr"] and report["pr_curve"]["precision"]
    point = report["operating_point"]
    assert point["decision"]["rule"] == "recall" and point["decision"]["positive_label"] == "pos"
    assert point["decision"]["validation"]["recall"] >= 0.9  # met where it was chosen
    assert {"argmax", "threshold"} <= point["test"].keys()
    assert (out / "reliability.png").read_bytes().startswith(b"\x89PNG")
    config = json.loads((out / "config.json").read_text())
    assert config["temperature"] == c["temperature"] and config["decision"]["threshold"] > 0


def test_operating_point_options_that_do_not_fit_the_data_are_refused(
    tiny_encoder: Path, tiny_data: tuple[Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from probe_export.cli import main

    train, test = tiny_data
    args = ["train", str(train), "--test", str(test), "--model", str(tiny_encoder), "--out", str(tmp_path / "m")]
    assert main([*args, "--min-score", "0.6"]) == 2
    assert "--min-score is for three or more labels" in capsys.readouterr().err
    assert main([*args, "--operating-point", "fpr=1.5"]) == 2
    assert not (tmp_path / "m").exists()
