"""Fine-tuning on the tiny encoder: it learns, it exports through the one export path, it resumes."""

from __future__ import annotations

import json
from dataclasses import replace

import numpy as np
import pytest
import torch
from probe_export.cli import main
from probe_export.module import build_module, torch_probabilities
from probe_runtime import Classifier
from probe_runtime.atomic import current_umask
from probe_train import checkpoint
from probe_train import finetune as ft
from probe_train.checkpoint import checkpoint_dir_for
from probe_train.data import load_dataset
from probe_train.embeddings import embed_texts
from probe_train.encoder import load_encoder
from probe_train.errors import ProbeError
from probe_train.finetune import FinetuneSettings, finetune, head_probabilities
from probe_train.model_dir import load_trained

# A random 2-layer BERT needs a far larger step than a pretrained encoder to learn in a few epochs.
TINY = {"learning_rate": 1e-2, "batch_size": 16, "epochs": 5, "checkpoint_every": 0}


def probe(*args) -> int:
    return main([str(a) for a in args])


@pytest.fixture(scope="module")
def datasets(tiny_data):
    train_csv, test_csv = tiny_data
    train = load_dataset(train_csv)
    return train, load_dataset(test_csv)


def run(tiny_encoder, train, validation=None, **options):
    settings = FinetuneSettings(model=str(tiny_encoder), **{**TINY, **options})
    encoder = load_encoder(settings.model)
    return encoder, finetune(encoder, train, validation, settings, **options.get("_kw", {}))


def test_finetuning_lowers_the_training_loss_and_beats_an_untrained_head(tiny_encoder, datasets):
    train, test = datasets
    encoder, result = run(tiny_encoder, train)
    losses = [h.train_loss for h in result.history]
    assert len(losses) == TINY["epochs"]
    assert losses[-1] < 0.5 * losses[0]

    x_tuned = embed_texts(encoder, test.texts, "mean", -1, 32, False)
    tuned = (head_probabilities(x_tuned, result.weight, result.bias).argmax(1) == test.y).mean()
    torch.manual_seed(0)
    untrained_head = torch.nn.Linear(x_tuned.shape[1], 2)
    x_frozen = embed_texts(load_encoder(str(tiny_encoder)), test.texts, "mean", -1, 32, False)
    w, b = untrained_head.weight.detach().numpy(), untrained_head.bias.detach().numpy()
    untrained = (head_probabilities(x_frozen, w, b).argmax(1) == test.y).mean()
    assert tuned >= 0.9
    assert tuned > untrained


def test_the_same_seed_gives_the_same_model(tiny_encoder, datasets):
    train, _ = datasets
    _, first = run(tiny_encoder, train, epochs=1)
    _, second = run(tiny_encoder, train, epochs=1)
    _, other = run(tiny_encoder, train, epochs=1, seed=1)
    np.testing.assert_array_equal(first.weight, second.weight)
    assert not np.array_equal(first.weight, other.weight)


def test_early_stopping_restores_the_best_epoch(tiny_encoder, datasets):
    train, _ = datasets
    fit, validation = ft.split_validation(train, FinetuneSettings(validation_size=0.25))
    # A learning rate this large makes the validation score collapse after the first epochs.
    encoder, result = run(tiny_encoder, fit, validation, epochs=6, learning_rate=0.05, patience=1)
    scores = [h.validation for h in result.history]
    best = max(range(len(scores)), key=lambda i: (scores[i].macro_f1, -scores[i].loss))
    assert result.best_epoch == best + 1
    assert len(scores) == result.best_epoch + 1 or len(scores) == 6
    x = embed_texts(encoder, validation.texts, "mean", -1, 32, False)
    restored = (head_probabilities(x, result.weight, result.bias).argmax(1) == validation.y).mean()
    assert restored == pytest.approx(scores[best].accuracy)


def test_the_validation_split_comes_from_the_training_data(datasets):
    train, _ = datasets
    fit, validation = ft.split_validation(train, FinetuneSettings(validation_size=0.2))
    assert len(fit) + len(validation) == len(train)
    assert set(fit.texts) | set(validation.texts) <= set(train.texts)
    assert sorted(np.bincount(validation.y)) == [12, 12]


class Interrupted(Exception):
    pass


def test_an_interrupted_run_resumes_mid_epoch_and_ends_where_an_uninterrupted_one_does(
    tiny_encoder, datasets, tmp_path, monkeypatch
):
    train, _ = datasets
    fit, validation = ft.split_validation(train, FinetuneSettings())
    settings = FinetuneSettings(model=str(tiny_encoder), **{**TINY, "checkpoint_every": 5})
    _, straight = run(tiny_encoder, fit, validation, checkpoint_every=5)

    real_save = checkpoint.save_checkpoint

    def save_then_stop(path, state):  # the process dies right after a mid-epoch checkpoint of epoch 3
        real_save(path, state)
        if state["progress"]["epoch"] == 2 and state["progress"]["batch"] > 0:
            raise Interrupted

    monkeypatch.setattr(checkpoint, "save_checkpoint", save_then_stop)
    with pytest.raises(Interrupted):
        finetune(load_encoder(str(tiny_encoder)), fit, validation, settings, checkpoint_dir=tmp_path)
    monkeypatch.undo()

    encoder = load_encoder(str(tiny_encoder))
    resumed = finetune(encoder, fit, validation, settings, checkpoint_dir=tmp_path, resume=True)
    assert resumed.resumed_from == 15  # 7 steps per epoch: step 15 is the first checkpoint inside epoch 3
    assert resumed.steps == straight.steps
    np.testing.assert_array_equal(resumed.weight, straight.weight)
    np.testing.assert_array_equal(resumed.bias, straight.bias)
    assert resumed.history == straight.history


def test_finetune_never_writes_into_a_directory_it_did_not_create(tiny_encoder, datasets, tmp_path):
    from probe_runtime.errors import UsageError

    train, _ = datasets
    (tmp_path / "last.pt").write_bytes(b"the user's own checkpoint")
    settings = FinetuneSettings(model=str(tiny_encoder), **{**TINY, "epochs": 1})
    with pytest.raises(UsageError, match="not a checkpoint directory written by probe"):
        finetune(load_encoder(str(tiny_encoder)), train, None, settings, checkpoint_dir=tmp_path)
    assert (tmp_path / "last.pt").read_bytes() == b"the user's own checkpoint"


def test_resume_refuses_a_checkpoint_made_with_other_settings(tiny_encoder, datasets, tmp_path):
    train, _ = datasets
    settings = FinetuneSettings(model=str(tiny_encoder), **{**TINY, "epochs": 1})
    finetune(load_encoder(str(tiny_encoder)), train, None, settings, checkpoint_dir=tmp_path)
    other = replace(settings, learning_rate=1e-4)
    with pytest.raises(ProbeError, match="other data or settings"):
        finetune(load_encoder(str(tiny_encoder)), train, None, other, checkpoint_dir=tmp_path, resume=True)


@pytest.fixture(scope="module")
def finetuned_dir(tiny_encoder, tiny_data, tmp_path_factory):
    train, test = tiny_data
    out = tmp_path_factory.mktemp("finetuned") / "tiny-ft"
    args = ["train", train, "--test", test, "-m", tiny_encoder, "-o", out, "--method", "finetune"]
    args += ["--learning-rate", TINY["learning_rate"], "--epochs", TINY["epochs"], "--batch-size", 16]
    assert probe(*args) == 0
    return out


def test_train_finetune_writes_a_model_directory_with_its_own_encoder(finetuned_dir, tiny_encoder):
    config = json.loads((finetuned_dir / "config.json").read_text())
    assert config["method"] == "finetune"
    assert config["settings"]["base_encoder"] == str(tiny_encoder)
    assert config["settings"]["n_validation"] == 12 and config["settings"]["best_epoch"] >= 1
    assert {"config.json", "model.safetensors", "tokenizer.json"} <= {
        p.name for p in (finetuned_dir / "encoder").iterdir()
    }
    report = json.loads((finetuned_dir / "report.json").read_text())
    assert report["n"] == 40 and report["n_train"] == 108
    assert report["accuracy"] > report["majority_baseline"]
    assert not checkpoint_dir_for(finetuned_dir).exists()  # removed once training succeeded
    mode = 0o777 & ~current_umask()  # the copied encoder/ gets the user's umask, not its temp dir's 0700
    assert (finetuned_dir / "encoder").stat().st_mode & 0o777 == mode
    assert finetuned_dir.stat().st_mode & 0o777 == mode


def test_the_saved_encoder_is_the_fine_tuned_one(finetuned_dir, tiny_encoder):
    tuned = load_encoder(str(finetuned_dir / "encoder")).model.state_dict()
    base = load_encoder(str(tiny_encoder)).model.state_dict()
    name = "encoder.layer.0.attention.self.query.weight"
    assert not torch.equal(tuned[name], base[name])


def test_finetune_prints_one_line_per_epoch(tiny_encoder, tiny_data, tmp_path, capsys):
    train, test = tiny_data
    args = ["train", train, "--test", test, "-m", tiny_encoder, "-o", tmp_path / "m", "--method", "finetune"]
    assert probe(*args, "--epochs", 2, "--learning-rate", 1e-3) == 0
    err = capsys.readouterr().err
    assert "epoch 1/2: train loss" in err and "validation loss" in err and "min left" in err
    assert "epoch 2/2" in err


def test_resume_without_a_checkpoint_says_how_to_start(tiny_encoder, tiny_data, tmp_path, capsys):
    train, test = tiny_data
    args = ["train", train, "--test", test, "-m", tiny_encoder, "-o", tmp_path / "m", "--method", "finetune"]
    assert probe(*args, "--resume") == 1
    err = capsys.readouterr().err
    assert "no checkpoint" in err and "without --resume" in err and "Traceback" not in err


@pytest.fixture(scope="module")
def finetuned_artifacts(finetuned_dir, tmp_path_factory):
    root = tmp_path_factory.mktemp("ft-artifacts")
    paths = {"int8": root / "ft-int8.onnx", "fp32": root / "ft-fp32.onnx"}
    # 40 verification texts make one flipped prediction 2.5 points: let the int8 gate pass, assert below instead.
    assert (
        probe(
            "export",
            finetuned_dir,
            "--out",
            paths["int8"],
            "--quantize",
            "int8",
            "--max-flip-rate",
            100,
            "--significance",
            0,
        )
        == 0
    )
    assert probe("export", finetuned_dir, "--out", paths["fp32"], "--quantize", "none") == 0
    return paths


def test_the_exported_fp32_file_matches_the_fine_tuned_pytorch_model(finetuned_dir, finetuned_artifacts, tiny_data):
    texts = load_dataset(tiny_data[1]).texts
    module, encoder = build_module(load_trained(finetuned_dir))
    reference = torch_probabilities(module, encoder, texts)
    np.testing.assert_allclose(Classifier.load(finetuned_artifacts["fp32"]).predict_proba(texts), reference, atol=1e-4)
    int8 = Classifier.load(finetuned_artifacts["int8"]).predict_proba(texts)
    assert (int8.argmax(1) == reference.argmax(1)).mean() >= 0.9


def test_the_artifact_records_the_method_and_reproduces_the_training_report(finetuned_dir, finetuned_artifacts):
    manifest = Classifier.load(finetuned_artifacts["int8"]).manifest
    report = json.loads((finetuned_dir / "report.json").read_text())
    assert manifest.method == "finetune" and manifest.quantization == "int8"
    assert manifest.base_encoder == json.loads((finetuned_dir / "config.json").read_text())["settings"]["base_encoder"]
    assert manifest.verification.torch.accuracy == pytest.approx(report["accuracy"])
    assert manifest.verification.fp32.agreement == 1.0
    assert manifest.training.accuracy == report["accuracy"]
