"""ProbeClassifier: a scikit-learn estimator over raw texts, for both methods."""

from __future__ import annotations

import numpy as np
import pytest
from probe_export.cli import main
from probe_runtime import Classifier
from probe_train.data import load_dataset
from probe_train.errors import DataError
from probe_train.estimator import ProbeClassifier
from sklearn.base import clone
from sklearn.exceptions import NotFittedError
from sklearn.model_selection import cross_val_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import FunctionTransformer

FINETUNE = {"method": "finetune", "learning_rate": 1e-2, "epochs": 5, "batch_size": 16}


@pytest.fixture(scope="module")
def data(tiny_data):
    train, test = (load_dataset(p) for p in tiny_data)
    return train.texts, np.array(train.label_values()), test.texts, np.array(test.label_values())


@pytest.fixture(scope="module", params=["probe", "finetune"])
def fitted(request, tiny_encoder, data):
    options = FINETUNE if request.param == "finetune" else {}
    texts, y, _, _ = data
    return ProbeClassifier(model=str(tiny_encoder), **options).fit(texts, y)


def test_init_only_stores_parameters_and_get_params_returns_them(tiny_encoder):
    clf = ProbeClassifier(model=str(tiny_encoder), method="finetune", epochs=3)
    params = clf.get_params()
    assert params["method"] == "finetune" and params["epochs"] == 3 and params["model"] == str(tiny_encoder)
    assert clone(clf).get_params() == params
    assert not [name for name in vars(clf) if name.endswith("_")]


def test_predicting_before_fit_raises_not_fitted(tiny_encoder):
    with pytest.raises(NotFittedError):
        ProbeClassifier(model=str(tiny_encoder)).predict(["the movie was good"])


def test_fit_returns_self_and_learns_the_original_labels(fitted, data):
    _, _, test_texts, test_y = data
    assert list(fitted.classes_) == ["neg", "pos"]
    assert set(fitted.predict(test_texts)) <= {"neg", "pos"}
    assert fitted.score(test_texts, test_y) >= 0.9


def test_predict_proba_has_one_column_per_class_in_classes_order(fitted, data):
    _, _, test_texts, _ = data
    proba = fitted.predict_proba(test_texts[:5])
    assert proba.shape == (5, 2)
    np.testing.assert_allclose(proba.sum(1), 1.0, rtol=1e-6)
    assert list(fitted.classes_[proba.argmax(1)]) == list(fitted.predict(test_texts[:5]))


@pytest.mark.parametrize("options", [{}, FINETUNE], ids=["probe", "finetune"])
def test_cross_val_score_runs_on_raw_texts(tiny_encoder, data, options):
    texts, y, _, _ = data
    scores = cross_val_score(ProbeClassifier(model=str(tiny_encoder), **options), texts, y, cv=3)
    assert scores.shape == (3,)
    assert scores.mean() >= 0.8


def test_it_works_as_the_last_step_of_a_pipeline(tiny_encoder, data):
    texts, y, test_texts, test_y = data
    pipeline = make_pipeline(FunctionTransformer(lambda xs: [x.lower() for x in xs]), ProbeClassifier())
    pipeline.set_params(probeclassifier__model=str(tiny_encoder))
    assert pipeline.fit(texts, y).score(test_texts, test_y) >= 0.8
    assert list(pipeline.classes_) == ["neg", "pos"]


def test_integer_labels_come_back_as_integers(tiny_encoder, data):
    texts, y, test_texts, _ = data
    clf = ProbeClassifier(model=str(tiny_encoder)).fit(texts, (y == "pos").astype(int))
    assert list(clf.classes_) == [0, 1]
    assert clf.predict(test_texts[:3]).dtype.kind == "i"


def test_a_fitted_estimator_exports_through_probe_export(fitted, data, tmp_path):
    _, _, test_texts, test_y = data
    model_dir = fitted.save(tmp_path / "m", test_texts, test_y)
    assert main(["export", str(model_dir), "--out", str(tmp_path / "m.onnx"), "--quantize", "none"]) == 0
    artifact = Classifier.load(tmp_path / "m.onnx")
    assert artifact.manifest.method == fitted.method
    np.testing.assert_allclose(artifact.predict_proba(test_texts), fitted.predict_proba(test_texts), atol=1e-4)


def test_saving_with_evaluation_labels_fit_never_saw_is_refused(fitted, tmp_path):
    with pytest.raises(DataError, match="not seen in fit"):
        fitted.save(tmp_path / "m", ["the movie was good"], ["neutral"])
    assert not (tmp_path / "m").exists()


def test_save_never_replaces_what_it_did_not_write(fitted, data, tmp_path):
    from probe_runtime.errors import UsageError

    from tests.train.test_train_output_safety import snapshot

    _, _, test_texts, test_y = data
    hf = tmp_path / "hf-model"
    hf.mkdir()
    (hf / "config.json").write_text('{"model_type": "bert"}\n')
    (hf / "model.safetensors").write_bytes(b"weights")
    before = snapshot(hf)
    with pytest.raises(UsageError, match="not a probe model directory written by probe"):
        fitted.save(hf, test_texts, test_y, overwrite=True)
    assert snapshot(hf) == before
    with pytest.raises(UsageError, match=r"is the encoder|inside the encoder"):
        fitted.save(fitted.encoder_.path)

    first = fitted.save(tmp_path / "m", test_texts, test_y)
    saved = snapshot(first)
    with pytest.raises(UsageError, match="--overwrite"):
        fitted.save(tmp_path / "m")
    assert snapshot(first) == saved
    fitted.save(tmp_path / "m", overwrite=True)
    assert not (tmp_path / "m" / "eval.jsonl").exists()  # replaced: the second save had no evaluation texts


def test_invalid_settings_are_usage_errors(tiny_encoder, data):
    from probe_runtime.errors import UsageError

    texts, y, _, _ = data
    for bad in ({"batch_size": 0}, {"max_length": 1}, {"layer": -4}, {"pooling": "median"}, {"max_length": 10**5}):
        with pytest.raises(UsageError):
            ProbeClassifier(model=str(tiny_encoder), **bad).fit(texts, y)


def test_normalisation_is_chosen_by_cross_validation_unless_set(tiny_encoder, data):
    from probe_train.embeddings import embed_texts
    from probe_train.finetune import head_probabilities

    texts, y, test_texts, _ = data
    chosen = ProbeClassifier(model=str(tiny_encoder)).fit(texts, y)
    recorded = chosen.trained_.settings
    assert recorded.normalize_chosen_by == "cross-validation"
    assert chosen.normalize_ is (recorded.cv_accuracy_l2 > recorded.cv_accuracy_raw)
    for normalize in (True, False):
        clf = ProbeClassifier(model=str(tiny_encoder), normalize=normalize).fit(texts, y)
        assert clf.normalize_ is normalize and clf.trained_.settings.normalize_chosen_by == "setting"
        x = embed_texts(clf.encoder_, test_texts, "mean", -1, show_progress=False, normalize=normalize)
        expected = head_probabilities(x, clf.coef_, clf.intercept_, clf.trained_.temperature)
        np.testing.assert_allclose(clf.predict_proba(test_texts), expected, atol=1e-6)


def test_fit_takes_a_sample_weight_per_text_as_scikit_learn_estimators_do(tiny_encoder, data):
    texts, y, _, _ = data
    weights = np.where(np.arange(len(texts)) % 4 == 0, 0.0, 1.0)
    clf = ProbeClassifier(model=str(tiny_encoder)).fit(texts, y, sample_weight=weights)
    assert clf.trained_.settings.sample_weight == {
        "rows": len(texts),
        "zero": int((weights == 0).sum()),
        "sum": float(weights.sum()),
        "max": 1.0,
    }
    for bad in (weights[:-1], -weights, np.where(y == y[0], 0.0, 1.0)):
        with pytest.raises(ValueError, match="sample_weight"):
            ProbeClassifier(model=str(tiny_encoder)).fit(texts, y, sample_weight=bad)
