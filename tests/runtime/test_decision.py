"""The artifact's decision rule and label names at run time: a stored threshold changes `predict`, never
`predict_proba`; `threshold=` / `--threshold` override it; every output shows the display names while the
original label stays available; predictions are JSON data; the pipeline shape is Hugging Face's."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from probe_runtime import Classifier, UsageError
from probe_runtime.artifact import Decision, Manifest
from probe_runtime.cli import main as runtime_main
from probe_runtime.decision import ABSTAIN, Decider, decider_for

TEXTS = [
    "the movie was great",
    "the plot was awful",
    "this film seemed lovely and hotel was fine",
    "our dinner was boring",
    "that book is brilliant",
    "the acting felt dull",
]


@pytest.fixture(scope="module")
def named(tiny_encoder: Path, tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A probe with display names and an operating point, trained and exported through the CLIs."""
    from probe_export.cli import main

    root = tmp_path_factory.mktemp("named")
    train, test = tiny_data
    trained = root / "model"
    options = ["--label-names", "neg=negative,pos=positive", "--operating-point", "fpr=0.1"]
    assert (
        main(["train", str(train), "--test", str(test), "--model", str(tiny_encoder), "--out", str(trained), *options])
        == 0
    )
    assert main(["export", str(trained), "--out", str(root / "named.onnx"), "--quantize", "none"]) == 0
    return root / "named.onnx"


@pytest.fixture(scope="module")
def strict(named: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, float]:
    """The same model with a stored threshold set by hand between the texts' positive probabilities, so
    that it differs from argmax on some of them."""
    from probe_export.cli import main
    from probe_train.model_dir import load_trained, save_trained

    p = Classifier.load(named).predict_proba(TEXTS)[:, 1]
    above_half = np.sort(p[p > 0.5])
    threshold = float((above_half[0] + above_half[-1]) / 2)
    model_dir = named.parent / "model"
    trained = load_trained(model_dir)
    trained = replace(trained, decision=replace(trained.decision, threshold=threshold))
    root = tmp_path_factory.mktemp("strict")
    save_trained(trained, root / "model")
    assert main(["export", str(root / "model"), "--out", str(root / "strict.onnx"), "--quantize", "none"]) == 0
    return root / "strict.onnx", threshold


def test_the_stored_threshold_changes_predict_and_not_predict_proba(named: Path, strict: tuple[Path, float]) -> None:
    path, threshold = strict
    clf, argmax = Classifier.load(path), Classifier.load(named)
    np.testing.assert_allclose(clf.predict_proba(TEXTS), argmax.predict_proba(TEXTS), atol=1e-6)
    p = clf.predict_proba(TEXTS)[:, 1]
    assert clf.predict(TEXTS) == ["positive" if v >= threshold else "negative" for v in p]
    assert clf.predict(TEXTS) != [["negative", "positive"][i] for i in p.round().astype(int)]
    assert clf.threshold == pytest.approx(threshold)


def test_a_threshold_at_load_overrides_the_stored_one(strict: tuple[Path, float]) -> None:
    path, _ = strict
    assert set(Classifier.load(path, threshold=0.0).predict(TEXTS)) == {"positive"}
    assert set(Classifier.load(path, threshold=1.0).predict(TEXTS)) <= {"negative", "positive"}
    for bad in (1.5, -0.1, "0.5", True):
        with pytest.raises(UsageError, match="threshold must be a number from 0 to 1"):
            Classifier.load(path, threshold=bad)  # type: ignore[arg-type]  # the point of the test


def test_display_names_in_classify_with_the_original_label_kept(named: Path) -> None:
    clf = Classifier.load(named)
    assert clf.classes_.tolist() == ["negative", "positive"] and clf.labels == ["neg", "pos"]
    prediction = clf("the movie was great")
    assert (prediction.label, prediction.label_id) == ("positive", "pos")
    assert set(prediction.scores) == {"negative", "positive"}
    data = json.loads(json.dumps(prediction.to_dict()))
    assert data["label"] == "positive" and data["label_id"] == "pos" and data["scores"]["positive"] == prediction.score


def test_predictions_with_integer_labels_are_json_data(fp32_model: Path) -> None:
    prediction = Classifier.load(fp32_model).classify("the plot was awful", top_k=2)
    data = json.loads(json.dumps(prediction.to_dict()))
    assert [entry["label"] for entry in data["top"]] == [
        prediction.label,
        *(k for k in data["scores"] if k != prediction.label),
    ]


def test_pipeline_answers_like_a_hugging_face_pipeline(named: Path) -> None:
    clf = Classifier.load(named)
    one = clf.pipeline("the movie was great")
    assert one == [{"label": "positive", "score": pytest.approx(clf.predict_proba("the movie was great")[1])}]
    assert [d["label"] for d in clf.pipeline(TEXTS[:2])] == clf.predict(TEXTS[:2])
    ranked = clf.pipeline("the plot was awful", top_k=None)
    assert [d["label"] for d in ranked] == ["negative", "positive"] and ranked[0]["score"] >= ranked[1]["score"]
    assert [len(r) for r in clf.pipeline(TEXTS[:3], top_k=1 + 1)] == [2, 2, 2]
    with pytest.raises(UsageError, match="top_k"):
        clf.pipeline("x y", top_k=0)


def test_classify_cli_writes_display_names_the_original_label_and_the_top_k(named: Path, tmp_path: Path) -> None:
    inputs = tmp_path / "in.txt"
    inputs.write_text("\n".join(TEXTS) + "\n")
    out = tmp_path / "out.csv"
    assert runtime_main(["classify", str(named), str(inputs), "--out", str(out), "--top-k", "2", "--all-scores"]) == 0
    rows = list(csv.DictReader(io.StringIO(out.read_text())))
    assert list(rows[0]) == [
        "id",
        "label",
        "score",
        "label_id",
        "label_2",
        "score_2",
        "score_negative",
        "score_positive",
    ]
    assert [r["label"] for r in rows] == Classifier.load(named).predict(TEXTS)
    assert {r["label_id"] for r in rows} <= {"neg", "pos"}
    jsonl = tmp_path / "out.jsonl"
    assert runtime_main(["classify", str(named), str(inputs), "--out", str(jsonl), "--threshold", "0"]) == 0
    assert {json.loads(line)["label"] for line in jsonl.read_text().splitlines()} == {"positive"}


def test_classify_cli_refuses_a_threshold_outside_0_to_1(
    named: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert runtime_main(["classify", str(named), str(tmp_path / "in.txt"), "--threshold", "2"]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "--threshold: must be a number from 0 to 1, not '2'" in err[0]


def test_info_shows_names_decision_and_temperature(named: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert runtime_main(["info", str(named)]) == 0
    out = capsys.readouterr().out
    assert "shown as ['negative', 'positive']" in out
    assert "decision      positive when its probability is at least" in out and "target fpr 0.1" in out
    assert "at export   FPR" in out and "temperature" in out
    assert runtime_main(["info", str(named), "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert data["label_names"] == ["negative", "positive"] and data["decision"]["rule"] == "fpr"


def test_multi_class_min_score_abstains_below_it() -> None:
    manifest = Manifest(
        labels=["a", "b", "c"],
        max_length=16,
        pooling="mean",
        base_encoder="x",
        input_names=["input_ids"],
        pad_token_id=0,
        decision=Decision(rule="min_score", min_score=0.6, abstain_label="unsure"),  # type: ignore[arg-type]  # a string is checked into the enum
    )
    decider = decider_for(manifest)
    proba = np.array([[0.7, 0.2, 0.1], [0.4, 0.35, 0.25]])
    assert decider.indices(proba).tolist() == [0, ABSTAIN]
    assert [decider.label(i) for i in decider.indices(proba)] == ["a", "unsure"]
    assert decider_for(manifest, threshold=0.3).indices(proba).tolist() == [0, 0]


def test_a_manifest_decision_that_does_not_fit_its_labels_is_refused() -> None:
    base = Manifest(
        labels=[0, 1], max_length=16, pooling="mean", base_encoder="x", input_names=["input_ids"], pad_token_id=0
    )  # type: ignore[arg-type]  # checked into the enum
    from probe_runtime.errors import ArtifactError

    with pytest.raises(ArtifactError, match=r"decision\.positive_label"):
        replace(base, decision=Decision(rule="fpr", target=0.1, threshold=0.7, positive_label=2))  # type: ignore[arg-type]
    with pytest.raises(ArtifactError, match="label_names"):
        replace(base, label_names=["only one"])
    with pytest.raises(ArtifactError, match=r"decision\.threshold"):
        Decision(rule="fpr", target=0.1)  # type: ignore[arg-type]
    assert Decider(("a", "b")).indices(np.array([[0.4, 0.6]])).tolist() == [1]


def test_a_version_2_artifact_still_loads_and_answers_argmax(fp32_model: Path, tmp_path: Path) -> None:
    """Version 2 files carry no decision, temperature or names: argmax is what they mean, so they are read."""
    from probe_runtime.artifact import KEY_SCHEMA

    from tests.runtime.tampering import rewrite

    def as_version_2(manifest: dict) -> None:  # type: ignore[type-arg]  # JSON data
        for key in ("decision", "temperature", "label_names"):
            manifest.pop(key)

    old = rewrite(fp32_model, tmp_path / "v2.onnx", manifest=as_version_2, props={KEY_SCHEMA: "2"})
    clf, new = Classifier.load(old), Classifier.load(fp32_model)
    assert clf.threshold is None and clf.manifest.temperature == 1.0 and clf.manifest.label_names == []
    assert clf.predict(TEXTS) == new.predict(TEXTS)
