"""`probe train --encoder static`: the edge tier trained by the normal command, kept in the model directory."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from probe_export.cli import main
from probe_train.model_dir import load_trained
from probe_train.static_training import EncoderKind


def _train(tiny_encoder: Path, tiny_data: tuple[Path, Path], out: Path, *extra: str) -> Path:
    train, test = tiny_data
    args = ["train", str(train), "--test", str(test), "--model", str(tiny_encoder), "--out", str(out)]
    assert main([*args, "--encoder", "static", "--static-dims", "16", *extra]) == 0
    return out


@pytest.fixture(scope="module")
def static_dir(tiny_encoder: Path, tiny_data: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _train(tiny_encoder, tiny_data, tmp_path_factory.mktemp("static") / "model")


def test_the_model_directory_keeps_the_table_and_says_it_is_static(static_dir: Path) -> None:
    config = json.loads((static_dir / "config.json").read_text())
    assert config["encoder_kind"] == "static"
    assert config["static"]["dims"] == 16 and config["static"]["sif"] == pytest.approx(1e-4)
    assert (static_dir / "static_table.npz").is_file()
    trained = load_trained(static_dir)
    assert trained.encoder_kind is EncoderKind.STATIC
    assert trained.static is not None and trained.static.dims == 16 == trained.weight.shape[1]
    assert trained.report.accuracy is not None


def test_a_static_model_directory_round_trips(static_dir: Path, tmp_path: Path) -> None:
    from probe_train.model_dir import save_trained

    trained = load_trained(static_dir)
    again = load_trained(save_trained(trained, tmp_path / "copy"))
    assert again.static is not None and trained.static is not None
    np.testing.assert_array_equal(again.static.vectors, trained.static.vectors)
    np.testing.assert_array_equal(again.static.weights, trained.static.weights)
    assert (again.static.encoder, again.static.sif) == (trained.static.encoder, trained.static.sif)
    np.testing.assert_array_equal(again.weight, trained.weight)


def test_directories_from_before_the_static_tier_load_as_transformer_models(tiny_trained: Path, tmp_path: Path) -> None:
    import shutil

    old = tmp_path / "old"
    shutil.copytree(tiny_trained, old)
    config = json.loads((old / "config.json").read_text())
    config.pop("encoder_kind", None)
    config.pop("static", None)
    (old / "config.json").write_text(json.dumps(config))
    trained = load_trained(old)
    assert trained.static is None and trained.encoder_kind is EncoderKind.TRANSFORMER


def test_the_table_is_distilled_once_then_read_from_the_cache(
    tiny_encoder: Path, tiny_data: tuple[Path, Path], static_dir: Path, tmp_path: Path
) -> None:
    from probe_train.embedding_cache import default_cache_dir

    cached = list((default_cache_dir() / "static").glob("*.npz"))
    assert len(cached) == 1  # the fixture's run wrote it, in the user's cache directory (never beside the data)
    before = cached[0].stat().st_mtime_ns
    again = load_trained(_train(tiny_encoder, tiny_data, tmp_path / "again"))
    assert cached[0].stat().st_mtime_ns == before
    assert again.static is not None and load_trained(static_dir).static is not None
    np.testing.assert_array_equal(again.static.vectors, load_trained(static_dir).static.vectors)  # type: ignore[union-attr]
    assert not any(p.suffix == ".npz" for p in tiny_data[0].parent.iterdir())


def test_fine_tuning_trains_the_table_and_the_head(
    tiny_encoder: Path, tiny_data: tuple[Path, Path], static_dir: Path, tmp_path: Path
) -> None:
    tuned = load_trained(_train(tiny_encoder, tiny_data, tmp_path / "ft", "--method", "finetune", "--epochs", "2"))
    probed = load_trained(static_dir)
    assert tuned.method == "finetune" and tuned.encoder == probed.encoder  # no encoder/ copy: the table is the model
    assert not (tmp_path / "ft" / "encoder").exists() and not (tmp_path / "ft.checkpoint").exists()
    assert tuned.static is not None and probed.static is not None
    assert tuned.static.vectors.shape == probed.static.vectors.shape
    assert tuned.report.accuracy is not None
