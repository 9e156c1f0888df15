"""A file checks itself where it runs: its canary texts must get the probabilities the exporting machine gave them.

`probe export` stores a few of the runtime's public sample texts with the shipped graph's probabilities and the
exporting CPU's name; `Classifier.load` re-asks them and refuses, in one line naming both CPUs and the difference,
a file this machine answers differently. Here the disagreeing file is made the way a file from another machine
would differ: its recorded canary probabilities are not the ones this CPU computes (hashes re-stamped, as an
exporter on that machine would have written them).
"""

from __future__ import annotations

import json

import numpy as np
import pytest
from probe_runtime import Classifier, CpuMismatchError, UsageError
from probe_runtime.canary import CANARY_MAX_MOVED, CANARY_TOLERANCE, canary_texts
from probe_runtime.cli import main
from probe_runtime.cpu import cpu_name
from probe_runtime.samples import sample_texts

from tests.runtime.tampering import rewrite


def _from_another_machine(
    src, dst, shift: float = 0.003, cpu: str = "Intel Xeon Platinum 8480+ (AMX)", texts: int | None = None
):
    """``src`` as if exported where ``texts`` of its canaries (all by default) came out ``shift`` apart (each row
    still sums to 1)."""

    def edit(manifest):
        rows = np.asarray(manifest["canaries"]["probabilities"])
        moved = rows.copy()
        chosen = slice(None) if texts is None else slice(0, texts)
        moved[chosen, 0] = np.clip(rows[chosen, 0] + shift, 0, 1)
        moved[:, 1:] *= ((1 - moved[:, 0]) / np.maximum(rows[:, 1:].sum(1), 1e-12))[:, None]
        manifest["canaries"]["probabilities"] = moved.tolist()
        manifest["canaries"]["cpu"] = cpu

    return rewrite(src, dst, manifest=edit)


@pytest.mark.parametrize("kind", ["int8", "fp32"])
def test_an_exported_file_carries_public_canary_texts_with_the_exporting_cpus_answers(tiny_artifacts, kind):
    clf = Classifier.load(tiny_artifacts[kind], self_check=False)
    canaries = clf.manifest.canaries
    assert canaries is not None
    assert list(canaries.texts) == canary_texts() and set(canaries.texts) <= set(sample_texts())  # never user data
    assert canaries.cpu == cpu_name() and canaries.tolerance == CANARY_TOLERANCE
    assert canaries.max_moved == CANARY_MAX_MOVED and len(canaries.texts) == 24
    np.testing.assert_allclose(clf.predict_proba(list(canaries.texts)), canaries.probabilities, atol=1e-6)


def test_on_the_exporting_machine_the_check_passes_and_is_recorded(int8_model):
    clf = Classifier.load(int8_model)
    check = clf.canary_check
    assert check is not None and check.passed
    assert check.texts == len(canary_texts()) and check.max_abs_diff <= CANARY_TOLERANCE
    assert check.exported_on == check.running_on == cpu_name()


def test_a_file_whose_canaries_disagree_is_refused_naming_both_cpus_and_the_difference(int8_model, tmp_path):
    moved = _from_another_machine(int8_model, tmp_path / "elsewhere.onnx")
    with pytest.raises(CpuMismatchError) as refused:
        Classifier.load(moved)
    message = str(refused.value)
    assert "\n" not in message
    assert str(moved) in message and "Intel Xeon Platinum 8480+ (AMX)" in message and cpu_name() in message
    assert "0.003" in message and "self_check=False" in message and "--no-self-check" in message


def test_a_difference_within_the_tolerance_is_the_same_answer(int8_model, tmp_path):
    moved = _from_another_machine(int8_model, tmp_path / "close.onnx", shift=CANARY_TOLERANCE / 4)
    assert Classifier.load(moved).canary_check.passed


def test_a_lone_rounding_flip_passes_but_a_few_canaries_moving_together_do_not(int8_model, tmp_path):
    # Exact int8 leaves one kind of cross-CPU difference: an fp32 last bit that tips one activation over a
    # rounding boundary, which moves one text now and then (1 of 235 measured). Saturation moves nearly all.
    lone = Classifier.load(_from_another_machine(int8_model, tmp_path / "lone.onnx", shift=0.01, texts=2))
    assert lone.canary_check.passed and lone.canary_check.moved == 2 == CANARY_MAX_MOVED
    with pytest.raises(CpuMismatchError, match="moves 3 of the file's 24 canary texts"):
        Classifier.load(_from_another_machine(int8_model, tmp_path / "three.onnx", shift=0.01, texts=3))


def test_self_check_false_loads_the_file_anyway_and_answers_as_usual(int8_model, tmp_path):
    moved = _from_another_machine(int8_model, tmp_path / "elsewhere.onnx")
    clf = Classifier.load(moved, self_check=False)
    assert clf.canary_check is None
    np.testing.assert_array_equal(clf.predict_proba(["a text"]), Classifier.load(int8_model).predict_proba(["a text"]))


@pytest.mark.parametrize("value", [0, 1, "no", None])
def test_self_check_takes_only_a_bool(int8_model, value):
    with pytest.raises(UsageError, match="self_check must be True or False"):
        Classifier.load(int8_model, self_check=value)


def test_classify_refuses_such_a_file_in_one_line_and_runs_it_with_no_self_check(int8_model, tmp_path, capsys):
    moved = _from_another_machine(int8_model, tmp_path / "elsewhere.onnx")
    texts = tmp_path / "texts.txt"
    texts.write_text("first text\nsecond text\n", encoding="utf-8")
    out = tmp_path / "preds.jsonl"
    assert main(["classify", str(moved), str(texts), "--out", str(out)]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "canary" in err[0] and not out.exists()
    assert main(["classify", str(moved), str(texts), "--out", str(out), "--no-self-check"]) == 0
    assert len(out.read_text(encoding="utf-8").splitlines()) == 2


def test_info_shows_both_cpus_and_the_check_instead_of_refusing(int8_model, tmp_path, capsys):
    assert main(["info", str(int8_model)]) == 0
    shown = capsys.readouterr().out
    assert f"exported on   {cpu_name()}" in shown and f"running on    {cpu_name()}" in shown
    assert "self-check    passed" in shown
    moved = _from_another_machine(int8_model, tmp_path / "elsewhere.onnx")
    assert main(["info", str(moved)]) == 0
    shown = capsys.readouterr().out
    assert "exported on   Intel Xeon Platinum 8480+ (AMX)" in shown and "self-check    FAILED" in shown
    assert main(["info", str(moved), "--json"]) == 0
    check = json.loads(capsys.readouterr().out)["self_check"]
    assert check["passed"] is False and check["exported_on"] == "Intel Xeon Platinum 8480+ (AMX)"
