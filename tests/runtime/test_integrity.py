"""Artifacts are checked before they are believed: hashes, manifest fields, graph agreement, tokenizer bounds."""

from __future__ import annotations

import base64
import json
import shutil

import numpy as np
import onnx
import pytest
from probe_runtime import ArtifactError, Classifier
from probe_runtime.artifact import (
    KEY_GRAPH_SHA256,
    KEY_MANIFEST,
    KEY_MANIFEST_SHA256,
    KEY_SCHEMA,
    KEY_TOKENIZER,
    KEY_TOKENIZER_SHA256,
    Manifest,
)
from probe_runtime.cli import main
from probe_runtime.integrity import graph_sha256, metadata, seal, text_sha256
from probe_runtime.loader import open_artifact, seal_artifact

from tests.runtime.tampering import flip, flip_weight_bytes, props_of, rewrite, write_props


@pytest.fixture
def model(int8_model, tmp_path):
    copy = tmp_path / "model.onnx"
    shutil.copy(int8_model, copy)
    return copy


# --- hashes ------------------------------------------------------------------------------------


def test_the_artifact_records_hashes_that_match_what_it_carries(model):
    data, props = model.read_bytes(), props_of(model)
    assert props[KEY_GRAPH_SHA256] == graph_sha256(data)
    assert props[KEY_TOKENIZER_SHA256] == text_sha256(props[KEY_TOKENIZER])
    assert props[KEY_MANIFEST_SHA256] == text_sha256(props[KEY_MANIFEST])
    assert open_artifact(model).sha256 == {
        "graph": graph_sha256(data),
        "tokenizer": props[KEY_TOKENIZER_SHA256],
        "manifest": props[KEY_MANIFEST_SHA256],
    }


def test_the_hand_rolled_reader_agrees_with_onnx_on_the_metadata(model):
    assert metadata(model.read_bytes()) == props_of(model)


def test_the_graph_hash_covers_the_graph_and_ignores_the_metadata(model):
    proto = onnx.load(str(model))
    before = graph_sha256(proto.SerializeToString())
    proto.metadata_props.add(key="note", value="anything")
    assert graph_sha256(proto.SerializeToString()) == before
    weights = max(proto.graph.initializer, key=lambda t: len(t.raw_data))
    weights.raw_data = bytes(len(weights.raw_data))
    assert graph_sha256(proto.SerializeToString()) != before


@pytest.mark.parametrize("count", [1, 2000])
def test_flipped_bytes_in_the_graph_are_refused(model, tmp_path, count):
    damaged = flip_weight_bytes(model, tmp_path / "damaged.onnx", count)
    expected = r"its graph does not match the SHA-256 recorded.*Re-download it or re-export"
    with pytest.raises(ArtifactError, match=expected):
        Classifier.load(damaged)


def test_a_flipped_byte_in_the_tokenizer_is_refused(model, tmp_path):
    damaged = flip(model, tmp_path / "damaged.onnx", b'"excellent"', b'"excellenT"')
    with pytest.raises(ArtifactError, match="its tokenizer does not match the SHA-256"):
        Classifier.load(damaged)


def test_a_flipped_byte_in_the_manifest_is_refused(model, tmp_path):
    damaged = flip(model, tmp_path / "damaged.onnx", b'"max_length": 64', b'"max_length": 65')
    with pytest.raises(ArtifactError, match="its manifest does not match the SHA-256"):
        Classifier.load(damaged)


def test_a_flipped_recorded_hash_is_refused_too(model, tmp_path):
    recorded = props_of(model)[KEY_GRAPH_SHA256].encode()
    damaged = flip(model, tmp_path / "damaged.onnx", recorded, recorded[::-1])
    with pytest.raises(ArtifactError, match="graph does not match"):
        Classifier.load(damaged)


@pytest.mark.parametrize("key", [KEY_GRAPH_SHA256, KEY_TOKENIZER_SHA256, KEY_MANIFEST_SHA256])
def test_a_missing_hash_is_refused(model, tmp_path, key):
    stripped = rewrite(model, tmp_path / "stripped.onnx", props={key: None}, restamp=False)
    with pytest.raises(ArtifactError, match=f"lacks the probe metadata entry '{key}'"):
        Classifier.load(stripped)


def test_an_artifact_of_schema_version_1_is_refused_with_the_fix(model, tmp_path):
    old = rewrite(model, tmp_path / "old.onnx", props={KEY_SCHEMA: "1"})
    with pytest.raises(ArtifactError, match=r"schema version '1'.*re-export"):
        Classifier.load(old)


def test_sealing_copies_the_graph_fields_byte_for_byte(model):
    data = model.read_bytes()
    sealed = seal(data, {"probe.extra": "value"})
    assert graph_sha256(sealed) == graph_sha256(data)
    assert metadata(sealed) == {**metadata(data), "probe.extra": "value"}


def test_a_file_changed_on_disk_after_loading_is_not_mixed_in(model, tmp_path):
    clf = Classifier.load(model, threads=2)
    shutil.copy(flip_weight_bytes(model, tmp_path / "other.onnx"), model)
    with pytest.raises(ArtifactError, match="changed on disk since it was loaded"):
        clf.predict_proba("the movie was great and the plot was fine " * 12)  # needs the multi-threaded session


# --- the manifest, field by field ------------------------------------------------------------


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"max_length": "64"}, "max_length"),
        ({"max_length": 1}, "max_length"),
        ({"max_length": 10**9}, "max_length"),
        ({"max_length": True}, "max_length"),
        ({"pad_token_id": -1}, "pad_token_id"),
        ({"pad_token_id": 1.5}, "pad_token_id"),
        ({"window_stride": 64}, "window_stride"),
        ({"window_stride": "8"}, "window_stride"),
        ({"labels": "neg,pos"}, "labels"),
        ({"labels": ["neg"]}, "labels"),
        ({"labels": ["neg", "neg"]}, "labels"),
        ({"labels": [["neg"], "pos"]}, "labels"),
        ({"pooling": "median"}, "pooling"),
        ({"long_text": "chunks"}, "long_text"),
        ({"window_aggregate": 3}, "window_aggregate"),
        ({"quantization": "int4"}, "quantization"),
        ({"method": "magic"}, "method"),
        ({"layer": "last"}, "layer"),
        ({"input_names": ["input_ids", "pixels"]}, "input_names"),
        ({"input_names": "input_ids"}, "input_names"),
        ({"training": ["accuracy", 0.9]}, "training"),
        ({"verification": "passed"}, "verification"),
        ({"base_encoder": None}, "base_encoder"),
        ({"created_by": 7}, "created_by"),
    ],
)
def test_each_bad_manifest_field_is_one_error_naming_it(model, tmp_path, changes, field):
    tampered = rewrite(model, tmp_path / "tampered.onnx", manifest=changes)
    with pytest.raises(ArtifactError, match=rf"manifest field '{field}'.*re-export the model") as info:
        Classifier.load(tampered)
    assert len(str(info.value).splitlines()) == 1


@pytest.mark.parametrize(
    ("path", "value", "field"),
    [
        (("int8", "accuracy"), "0.9", "verification.int8.accuracy"),
        (("int8", "flip_rate"), None, "verification.int8.flip_rate"),
        (("fp32", "macro_f1"), [1], "verification.fp32.macro_f1"),
        (("precision", "candidates", 0, "passed"), "yes", r"verification.precision.candidates\[0\].passed"),
        (("precision", "gate", "max_flip_rate"), "1", "verification.precision.gate.max_flip_rate"),
        (("texts",), "40", "verification.texts"),
        (("int8",), 0.9, "verification.int8"),
    ],
)
def test_verification_figures_that_info_formats_must_be_numbers(model, tmp_path, path, value, field):
    def edit(manifest):
        node = manifest["verification"]
        for key in path[:-1]:
            node = node[key]
        node[path[-1]] = value

    tampered = rewrite(model, tmp_path / "tampered.onnx", manifest=edit)
    with pytest.raises(ArtifactError, match=rf"manifest field '{field}'"):
        Classifier.load(tampered)
    assert main(["info", str(tampered)]) == 1  # one error, not a crash in the summary


def test_info_survives_verification_figures_it_does_not_know(model, tmp_path, capsys):
    tampered = rewrite(model, tmp_path / "t.onnx", manifest=lambda m: m["verification"]["int8"].pop("macro_f1"))
    assert main(["info", str(tampered)]) == 0
    assert "int8 quality" not in capsys.readouterr().out  # the summary needs every figure it prints


@pytest.mark.parametrize("raw", ["{not json", "[1, 2]", '{"labels": ["a", "b"]}', "NaN"])
def test_a_manifest_that_is_not_a_manifest_is_refused(model, tmp_path, raw):
    tampered = rewrite(model, tmp_path / "t.onnx", props={KEY_MANIFEST: raw})
    with pytest.raises(ArtifactError, match="damaged probe manifest"):
        Classifier.load(tampered)


def test_more_labels_than_the_graph_has_outputs_is_refused(model, tmp_path):
    tampered = rewrite(model, tmp_path / "t.onnx", manifest={"labels": ["neg", "pos", "other"]})
    with pytest.raises(ArtifactError, match=r"'labels' names 3 classes but the graph's 'probabilities' output has 2"):
        Classifier.load(tampered)


def test_a_pad_token_outside_the_vocabulary_is_refused(model, tmp_path):
    tampered = rewrite(model, tmp_path / "t.onnx", manifest={"pad_token_id": 10**6})
    with pytest.raises(ArtifactError, match="'pad_token_id' is 1000000, outside the tokenizer's"):
        Classifier.load(tampered)


def test_input_names_must_be_the_graphs(model, tmp_path):
    tampered = rewrite(model, tmp_path / "t.onnx", manifest={"input_names": ["input_ids", "token_type_ids"]})
    with pytest.raises(ArtifactError, match="'input_names' lists"):
        Classifier.load(tampered)


def test_the_exporter_refuses_to_write_a_manifest_the_graph_contradicts(int8_model, tmp_path):
    from probe_export.writer import write_artifact

    good = Classifier.load(int8_model).manifest
    bad = Manifest(**{**good.__dict__, "labels": ["neg", "pos", "other"]})
    out = tmp_path / "out.onnx"
    with pytest.raises(ArtifactError, match="'labels' names 3 classes"):
        write_artifact(int8_model, bad, props_of(int8_model)[KEY_TOKENIZER], out)
    assert list(tmp_path.iterdir()) == []


def test_the_exporter_cannot_even_build_an_invalid_manifest(int8_model):
    good = Classifier.load(int8_model).manifest
    with pytest.raises(ArtifactError, match="manifest field 'max_length'"):
        Manifest(**{**good.__dict__, "max_length": "64"})


def test_sealing_checks_the_bytes_it_returns(int8_model):
    good = Classifier.load(int8_model).manifest
    data = seal_artifact(int8_model.read_bytes(), good, props_of(int8_model)[KEY_TOKENIZER], "x.onnx")
    assert metadata(data)[KEY_GRAPH_SHA256] == graph_sha256(data)


# --- outside data, crafted tokenizers ----------------------------------------------------------


def test_external_data_is_refused_and_never_read(model, tmp_path):
    proto = onnx.load(str(model))
    external = tmp_path / "external.onnx"
    onnx.save_model(proto, str(external), save_as_external_data=True, location="weights.bin", size_threshold=0)
    assert (tmp_path / "weights.bin").stat().st_size > 0
    proto = onnx.load(str(external), load_external_data=False)
    write_props(proto, {p.key: p.value for p in proto.metadata_props}, external)  # re-stamp: only the refs remain
    with pytest.raises(ArtifactError, match=r"tensor\(s\) in external data files.*reads nothing outside it"):
        Classifier.load(external)


def _vocabulary(size):
    def edit(spec):
        spec["model"]["vocab"] = {f"t{i}": i for i in range(size)}

    return edit


@pytest.mark.parametrize(
    ("edit", "expected"),
    [
        (_vocabulary(1_000_001), r"1,000,001 vocabulary entries \(limit 1,000,000\)"),
        (lambda s: s.update(normalizer={"type": "Sequence", "normalizers": [{"type": "Lowercase"}] * 33}), "chains 33"),
        (
            lambda s: s.update(
                pre_tokenizer={"type": "Split", "pattern": {"Regex": "a" * 10_001}, "behavior": "Isolated"}
            ),
            "pattern of 10,001 characters",
        ),
        (lambda s: s.update(model="WordPiece"), "no 'model' section"),
        (lambda s: s["model"].update(type="Unknown"), "its tokenizer cannot be loaded"),
    ],
)
def test_a_crafted_tokenizer_is_refused_before_it_is_built(model, tmp_path, edit, expected):
    tampered = rewrite(model, tmp_path / "t.onnx", tokenizer=edit)
    with pytest.raises(ArtifactError, match=expected):
        Classifier.load(tampered)


def test_nested_sequences_are_bounded(model, tmp_path):
    def nest(spec):
        node = {"type": "Lowercase"}
        for _ in range(6):
            node = {"type": "Sequence", "normalizers": [node]}
        spec["normalizer"] = node

    with pytest.raises(ArtifactError, match="nests sequences more than 4 deep"):
        Classifier.load(rewrite(model, tmp_path / "t.onnx", tokenizer=nest))


def _charsmap(blob: bytes):
    def edit(spec):
        spec["normalizer"] = {"type": "Precompiled", "precompiled_charsmap": base64.b64encode(blob).decode()}

    return edit


def test_a_tokenizer_that_panics_while_loading_is_an_artifact_error(model, tmp_path):
    # A corrupt sentencepiece charsmap makes the Rust library panic: a BaseException `except Exception` misses.
    tampered = rewrite(model, tmp_path / "t.onnx", tokenizer=_charsmap(b"\x00"))
    with pytest.raises(ArtifactError, match="tokenizer crashed while loading"):
        Classifier.load(tampered)


def test_a_tokenizer_that_panics_while_encoding_is_an_artifact_error(model, tmp_path):
    tampered = rewrite(model, tmp_path / "t.onnx", tokenizer=_charsmap(b"\x08\x00\x00\x00" + b"\xff" * 8 + b"abc"))
    with pytest.raises(ArtifactError, match="tokenizer crashed while encoding texts"):
        Classifier.load(tampered)  # its canary texts meet the crash at load
    clf = Classifier.load(tampered, self_check=False)
    for texts in ("hello world", ["hello", "world", "again"]):
        with pytest.raises(ArtifactError, match="tokenizer crashed while encoding texts"):
            clf.predict_proba(texts)


# --- info ---------------------------------------------------------------------------------------


def test_info_shows_the_verified_hashes(model, capsys):
    props = props_of(model)
    assert main(["info", str(model), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)["sha256"]
    assert shown == {
        "graph": props[KEY_GRAPH_SHA256],
        "tokenizer": props[KEY_TOKENIZER_SHA256],
        "manifest": props[KEY_MANIFEST_SHA256],
    }
    assert main(["info", str(model)]) == 0
    out = capsys.readouterr().out
    assert all(value in out for value in shown.values())


def test_a_good_artifact_still_classifies_like_before(model, int8_model):
    np.testing.assert_allclose(
        Classifier.load(model).predict_proba(["great", "awful"]),
        Classifier.load(int8_model).predict_proba(["great", "awful"]),
    )
