"""One training entry point: `probe train` and `ProbeClassifier` train through `probe_train.train`, write
the same model directory, and a fine-tuning run interrupted on the command line resumes to it."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from probe_export.cli import main
from probe_export.module import build_module, torch_probabilities
from probe_train import checkpoint
from probe_train.data import load_dataset
from probe_train.embeddings import embed_texts
from probe_train.estimator import ProbeClassifier
from probe_train.finetune import head_probabilities
from probe_train.model_dir import load_trained

# The tiny random encoder needs a large step to learn; two epochs keep the runs short.
FINETUNE_CLI = ["--method", "finetune", "--learning-rate", 1e-2, "--epochs", 2, "--checkpoint-every", 3]
FINETUNE_ESTIMATOR = {"method": "finetune", "learning_rate": 1e-2, "epochs": 2, "batch_size": 16}


def probe(*args: object) -> int:
    return main([str(a) for a in args])


def cli_train(tiny_encoder: Path, tiny_data: tuple[Path, Path], out: Path, *extra: object) -> Path:
    train, test = tiny_data
    assert probe("train", train, "--test", test, "-m", tiny_encoder, "-o", out, *extra) == 0
    return out


def files(directory: Path) -> dict[str, bytes]:
    return {str(p.relative_to(directory)): p.read_bytes() for p in sorted(directory.rglob("*")) if p.is_file()}


def assert_same_model_directory(first: Path, second: Path, *, sources_differ: bool) -> None:
    """Byte for byte, except the names of the data files and the wall-clock training time."""
    a, b = files(first), files(second)
    assert a.keys() == b.keys()
    for name in a.keys() - {"config.json", "report.json", "head.npz"}:
        assert a[name] == b[name], name
    with np.load(first / "head.npz") as x, np.load(second / "head.npz") as y:
        np.testing.assert_array_equal(x["weight"], y["weight"])
        np.testing.assert_array_equal(x["bias"], y["bias"])
    configs = [json.loads((d / "config.json").read_text()) for d in (first, second)]
    reports = [json.loads((d / "report.json").read_text()) for d in (first, second)]
    for config in configs:
        config["settings"].pop("checkpoint_every", None)  # how often it saved, not what it learned
        if sources_differ:
            config["settings"].pop("train_source")
    for report in reports:
        report.pop("train_seconds")
        if sources_differ:
            report.pop("test_source")
            for facts in report.get("data", {}).values():  # the data's names; its rows, counts and hashes stay
                facts.pop("source")
                facts.pop("file_sha256", None)
    assert configs[0] == configs[1]
    assert reports[0] == reports[1]
    assert list(reports[0]) == list(reports[1])  # the same fields in the same order


@pytest.fixture(scope="module")
def labelled(tiny_data):
    train, test = (load_dataset(p) for p in tiny_data)
    return train.texts, train.label_values(), test.texts, test.label_values()


@pytest.mark.parametrize(
    ("cli_options", "estimator_options"), [([], {}), (FINETUNE_CLI, FINETUNE_ESTIMATOR)], ids=["probe", "finetune"]
)
def test_the_estimator_and_the_cli_write_the_same_model_directory(
    tiny_encoder, tiny_data, labelled, tmp_path, cli_options, estimator_options
):
    from_cli = cli_train(tiny_encoder, tiny_data, tmp_path / "cli", *cli_options)
    texts, y, test_texts, test_y = labelled
    estimator = ProbeClassifier(model=str(tiny_encoder), **estimator_options).fit(texts, y)
    from_estimator = estimator.save(tmp_path / "estimator", test_texts, test_y)
    assert_same_model_directory(from_cli, from_estimator, sources_differ=True)
    assert json.loads((from_estimator / "report.json").read_text())["accuracy"] > 0.5


@pytest.fixture(scope="module")
def finetuned_straight(tiny_encoder, tiny_data, tmp_path_factory):
    return cli_train(tiny_encoder, tiny_data, tmp_path_factory.mktemp("straight") / "m", *FINETUNE_CLI)


def test_an_interrupted_finetune_resumes_on_the_command_line_to_the_uninterrupted_model(
    tiny_encoder, tiny_data, finetuned_straight, tmp_path, monkeypatch, capsys
):
    real_save = checkpoint.save_checkpoint

    def save_then_ctrl_c(path, state):  # Ctrl-C right after the first mid-epoch checkpoint of epoch 2
        real_save(path, state)
        if state["progress"]["epoch"] == 1 and state["progress"]["batch"] > 0:
            raise KeyboardInterrupt

    out = tmp_path / "m"
    monkeypatch.setattr(checkpoint, "save_checkpoint", save_then_ctrl_c)
    train, test = tiny_data
    args = ["train", train, "--test", test, "-m", tiny_encoder, "-o", out, *FINETUNE_CLI]
    assert probe(*args) == 130
    monkeypatch.undo()
    err = capsys.readouterr().err
    assert "--resume continues from the checkpoint" in err and "Traceback" not in err
    assert not out.exists() and checkpoint.is_checkpoint_dir(checkpoint.checkpoint_dir_for(out))

    assert probe(*args, "--resume") == 0
    assert "resuming from the checkpoint" in capsys.readouterr().err
    assert not checkpoint.checkpoint_dir_for(out).exists()
    assert_same_model_directory(finetuned_straight, out, sources_differ=False)


def test_embedding_and_the_exported_module_compute_the_same_pooled_vectors(tiny_trained, labelled):
    """One encoder → pool → head module: `probe embed`'s vectors through the head are the export's reference."""
    texts = labelled[2]
    trained = load_trained(tiny_trained)
    module, encoder = build_module(trained)
    via_embeddings = head_probabilities(
        embed_texts(encoder, texts, trained.pooling, trained.layer, 32, False),
        trained.weight,
        trained.bias,
        trained.temperature,  # folded into the module's softmax, as into the exported graph
    )
    # float32 head in torch, float64 in head_probabilities: the same up to rounding
    np.testing.assert_allclose(torch_probabilities(module, encoder, texts), via_embeddings, atol=1e-5)


def test_a_damaged_eval_file_is_one_error_naming_its_line(tiny_trained, tmp_path, capsys):
    import shutil

    model = shutil.copytree(tiny_trained, tmp_path / "m")
    lines = (model / "eval.jsonl").read_text(encoding="utf-8").splitlines()
    lines[2] = '{"text": "fine", "label": '
    (model / "eval.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    assert probe("export", model, "--out", tmp_path / "m.onnx") == 1
    err = capsys.readouterr().err
    assert "eval.jsonl: line 3: not valid JSON" in err and "damaged" in err and "Traceback" not in err
