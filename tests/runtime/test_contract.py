"""The artifact contract as a specification: typed choices and records, serialised exactly as stored.

The manifest's closed choices are enums (`probe_runtime.choices`) and its training summary and
verification are records (`probe_runtime.records`); these tests pin what the JSON looks like, that
reading and writing it loses nothing, and that every bad value is one error naming its field.
"""

from __future__ import annotations

import json
import re

import pytest
from probe_runtime import ArtifactError, Classifier
from probe_runtime.artifact import KEY_MANIFEST, Manifest, parse_manifest
from probe_runtime.choices import LongTextPolicy, Method, Pooling, Quantization, WindowAggregate
from probe_runtime.cli import main
from probe_runtime.info import as_json, describe, self_check, verification_lines
from probe_runtime.records import (
    AgreementRecord,
    CandidateRecord,
    Figures,
    PairedRecord,
    PrecisionRecord,
    TrainingSummary,
    Verification,
)

from tests.runtime.tampering import props_of

# An export's verification record (two candidates: the first refused), and the lines `probe export`
# printed for it before the record was typed: the text format is part of the contract.
VERIFICATION = {
    "agreement_texts": 160,
    "fp32": {
        "accuracy": 0.95,
        "agreement": 1.0,
        "macro_f1": 0.949874686716792,
        "max_abs_diff": 2.682209014892578e-06,
        "mean_abs_diff": 1.6515696188434958e-07,
    },
    "fused_ops": {"Attention": 2},
    "int8": {
        "accuracy": 0.975,
        "agreement_with_torch": 0.975,
        "flip_rate": 0.025000000000000022,
        "macro_f1": 0.9749843652282677,
        "max_abs_diff": 0.06457751989364624,
        "mean_abs_diff": 0.00825375784188509,
    },
    "precision": {
        "candidates": [
            {
                "agreement": {
                    "flip_rate": 0.00625,
                    "flip_rate_upper": 0.034549,
                    "flips": 1,
                    "max_abs_diff": 0.082,
                    "mean_abs_diff": 0.009027,
                    "texts": 160,
                },
                "alone_vs_batched_max_abs_diff": 0.07629901170730591,
                "alone_vs_batched_texts": 40,
                "batch_independent": True,
                "name": "int8-per-token",
                "passed": False,
                "reasons": ["2.50% of 160 texts change label against fp32 (limit 1.00%)", "second"],
            },
            {
                "agreement": {
                    "flip_rate": 0.00625,
                    "flip_rate_upper": 0.034549,
                    "flips": 1,
                    "max_abs_diff": 0.082,
                    "mean_abs_diff": 0.009027,
                    "texts": 160,
                },
                "alone_vs_batched_max_abs_diff": 0.07629901170730591,
                "alone_vs_batched_texts": 40,
                "batch_independent": False,
                "name": "int8",
                "paired": {
                    "accuracy": 0.975,
                    "delta_high": 7.338273,
                    "delta_low": -2.338273,
                    "delta_points": 2.5,
                    "fp32_accuracy": 0.95,
                    "gained": 1,
                    "lost": 0,
                    "p_worse": 1.0,
                    "texts": 40,
                },
                "paired_one_by_one": {
                    "accuracy": 0.95,
                    "delta_high": 0.0,
                    "delta_low": 0.0,
                    "delta_points": 0.0,
                    "fp32_accuracy": 0.95,
                    "gained": 0,
                    "lost": 0,
                    "p_worse": 1.0,
                    "texts": 40,
                },
                "passed": True,
                "reasons": [],
            },
        ],
        "chosen": "int8",
        "gate": {"max_flip_rate": 1.0, "significance": 0.0},
        "requested": "auto",
    },
    "source": "held-out split",
    "texts": 40,
    "torch": {
        "accuracy": 0.95,
        "agreement": 1.0,
        "macro_f1": 0.949874686716792,
        "max_abs_diff": 0.0,
        "mean_abs_diff": 0.0,
    },
}

PRINTED = [
    "verification on 40 labelled texts (held-out split):",
    "  pytorch  accuracy 0.9500  macro-F1 0.9499   ",
    "  fp32     accuracy 0.9500  macro-F1 0.9499   vs pytorch: agreement 1.0000, max |Δp| 2.7e-06",
    "  int8     accuracy 0.9750  macro-F1 0.9750   vs fp32: 2.50% flipped, max |Δp| 0.065, mean |Δp| 0.0083",
    "precision: asked auto, shipped int8 (gate: at most 100.00% labels changed vs fp32, no accuracy loss "
    "significant at 0.0)",
    "  int8-per-token 0.62% of 160 texts flipped, max |Δp| 0.082; same answer alone or batched: refused: 2.50% "
    "of 160 texts change label against fp32 (limit 1.00%); second",
    "  int8           0.62% of 160 texts flipped, max |Δp| 0.082; accuracy 0.9750 vs 0.9500 (+2.50 pts, 95 % CI "
    "-2.34..+7.34; McNemar p 1); answer depends on the batch: passed",
]


def _manifest(**changes: object) -> Manifest:
    fields = {
        "labels": ["neg", "pos"],
        "max_length": 64,
        "pooling": "mean",
        "base_encoder": "tiny",
        "input_names": ["input_ids", "attention_mask"],
        "pad_token_id": 0,
        "verification": VERIFICATION,
        "training": {"accuracy": 0.95, "n": 40, "C": 100.0, "seed": 0, "train_source": "train.csv"},
    }
    return Manifest(**{**fields, **changes})


def test_a_manifest_written_as_json_reads_back_equal_and_writes_the_same_json():
    manifest = _manifest()
    stored = manifest.to_json()
    again = parse_manifest(stored, "m.onnx")
    assert again == manifest
    assert again.to_json() == stored
    assert json.loads(stored)["verification"] == VERIFICATION  # same keys, same values as the record was given


def test_closed_choices_are_enums_and_read_and_print_as_their_values():
    manifest = _manifest(pooling="cls", method="finetune", quantization="int8-per-token", long_text="window")
    assert manifest.pooling is Pooling.CLS and manifest.method is Method.FINETUNE
    assert manifest.quantization is Quantization.INT8_PER_TOKEN and manifest.long_text is LongTextPolicy.WINDOW
    assert manifest.window_aggregate is WindowAggregate.AUTO
    assert f"{manifest.quantization} {manifest.pooling:>4}" == "int8-per-token  cls"
    assert json.loads(manifest.to_json())["quantization"] == "int8-per-token"


def test_only_per_batch_int8_answers_depend_on_the_batch():
    assert [q.value for q in Quantization if q.batch_dependent] == ["int8"]


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("pooling", "median", "manifest field 'pooling' must be one of 'mean', 'cls', 'max', got 'median' (str)"),
        ("method", "magic", "manifest field 'method' must be one of 'probe', 'finetune', got 'magic' (str)"),
        (
            "quantization",
            "int4",
            "manifest field 'quantization' must be one of 'int8', 'int8-per-token', 'int8-table', 'none', "
            "got 'int4' (str)",
        ),
        ("long_text", "chunks", "manifest field 'long_text' must be one of 'truncate', 'window', got 'chunks' (str)"),
        ("window_aggregate", 3, "manifest field 'window_aggregate' must be one of 'max', 'mean', 'auto', got 3 (int)"),
    ],
)
def test_an_unknown_choice_is_one_error_naming_the_field_and_the_choices(field, value, message):
    with pytest.raises(ArtifactError) as info:
        _manifest(**{field: value})
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("edit", "field"),
    [
        (lambda v: v["precision"]["candidates"][1].update(name="int4"), "verification.precision.candidates[1].name"),
        (lambda v: v["precision"]["candidates"][0].pop("agreement"), "verification.precision.candidates[0].agreement"),
        (lambda v: v["precision"].update(chosen="fp16"), "verification.precision.chosen"),
        (lambda v: v.update(agreement_texts=-1), "verification.agreement_texts"),
        (lambda v: v.update(fused_ops={"Attention": "2"}), "verification.fused_ops"),
    ],
)
def test_a_bad_value_deep_in_a_record_is_one_error_with_its_path(edit, field):
    verification = json.loads(json.dumps(VERIFICATION))
    edit(verification)
    raw = json.loads(_manifest().to_json())
    raw["verification"] = verification
    with pytest.raises(
        ArtifactError, match=rf"^m\.onnx: manifest field '{re.escape(field)}' must be .*re-export the model"
    ):
        parse_manifest(json.dumps(raw), "m.onnx")


@pytest.mark.parametrize(
    ("training", "field"), [({"n": 2.5}, "training.n"), ({"seed": "0"}, "training.seed"), ({"C": None}, "training.C")]
)
def test_training_figures_of_the_wrong_type_are_refused(training, field):
    with pytest.raises(ArtifactError, match=rf"manifest field '{field}'"):
        _manifest(training=training)


def test_a_record_built_in_code_is_held_to_the_same_contract_as_one_read_from_a_file():
    with pytest.raises(ArtifactError, match=r"manifest field 'verification\.texts' must be a count"):
        _manifest(verification=Verification(texts=-1))


def test_keys_this_version_does_not_know_are_kept_and_written_back():
    raw = json.loads(_manifest().to_json())
    raw["verification"]["int8"]["calibration"] = {"texts": 256}
    raw["training"]["history"] = [0.5, 0.7]
    manifest = parse_manifest(json.dumps(raw, sort_keys=True), "m.onnx")
    assert manifest.verification.int8.extra == {"calibration": {"texts": 256}}
    assert manifest.to_json() == json.dumps(raw, sort_keys=True, ensure_ascii=False)


def test_the_exporters_file_reads_into_typed_records(int8_model):
    manifest = Classifier.load(int8_model).manifest
    assert isinstance(manifest.training, TrainingSummary) and manifest.training.n == 40
    assert manifest.training.n_train == 120 and manifest.training.extra == {}
    v = manifest.verification
    assert isinstance(v, Verification) and v.extra == {}
    assert all(isinstance(f, Figures) and f.extra == {} for f in (v.torch, v.fp32, v.int8))
    assert isinstance(v.precision, PrecisionRecord) and v.precision.chosen is Quantization.INT8
    (candidate,) = v.precision.candidates
    assert isinstance(candidate, CandidateRecord) and candidate.name is Quantization.INT8 and candidate.extra == {}
    assert isinstance(candidate.agreement, AgreementRecord) and isinstance(candidate.paired, PairedRecord)
    stored = props_of(int8_model)[KEY_MANIFEST]
    assert manifest.to_json() == stored  # the exporter wrote exactly what the contract serialises


def test_the_verification_lines_keep_their_text():
    assert verification_lines(parse_manifest(_manifest().to_json(), "m.onnx").verification) == PRINTED


def test_info_prints_the_library_s_lines_and_json(int8_model, capsys):
    clf = Classifier.load(int8_model)
    assert main(["info", str(int8_model)]) == 0
    assert capsys.readouterr().out == "\n".join(describe(str(int8_model), clf, self_check(clf))) + "\n"
    assert main(["info", str(int8_model), "--json"]) == 0
    assert json.loads(capsys.readouterr().out) == as_json(str(int8_model), clf, self_check(clf))
