"""Scale-out on Ray: a real local cluster (2 CPUs, started once for this module) gives a local run's answers.

Compared with the local `probe-runtime classify` on the fp32 tiny artifact, which is batch-independent:
ids and labels are equal, scores equal to 1e-6 (both paths write them rounded to 6 decimals; the
tolerance covers a rounding boundary between two float orders of summation, and was never needed here).
"""

from __future__ import annotations

import json
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import ray
import ray.data
from probe_runtime import Classifier
from probe_runtime.cli import main
from probe_runtime.cli.ray_classify import SUMMARY_FILE
from probe_runtime.ray import classify_dataset

TOLERANCE = 1e-6
TEXTS = ["the movie was great", "the plot was awful", "excellent", "our dinner felt poor", "the hotel was dull"]


@pytest.fixture(scope="module", autouse=True)
def cluster():
    """One local Ray cluster for every test here; the CLI joins it instead of starting its own."""
    ray.init(num_cpus=2, include_dashboard=False, configure_logging=False, log_to_driver=False)
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def inputs(tmp_path_factory) -> list[Path]:
    """A text file with empty and whitespace rows, a CSV with a quoted comma and a record over two lines, JSONL."""
    root = tmp_path_factory.mktemp("ray-inputs")
    txt, csv_file, jsonl = root / "a.txt", root / "b.csv", root / "c.jsonl"
    txt.write_text("\n".join([*TEXTS, "", "   ", *TEXTS[:2]]) + "\n", encoding="utf-8")
    csv_file.write_text('text,key\n"great, really",k1\n"two\nlines",k2\n,k3\nawful,k4\n', encoding="utf-8")
    jsonl.write_text("".join(json.dumps({"text": t, "n": i}) + "\n" for i, t in enumerate(TEXTS)), encoding="utf-8")
    return [txt, csv_file, jsonl]


def local_rows(model, inputs, tmp_path, *extra) -> tuple[list[dict], str]:
    out = tmp_path / "local.jsonl"
    assert main(["classify", str(model), *map(str, inputs), "--out", str(out), "--threads", "1", *extra]) == 0
    return [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()], str(out)


def ray_run(model, inputs, out, *extra, actors: int = 1) -> int:
    """`classify --ray`; one actor unless asked (each actor start costs seconds of CI time)."""
    args = ["--ray", "--actors", str(actors), "--out", str(out), *extra]
    return main(["classify", str(model), *map(str, inputs), *args])


def summary_line(err: str) -> str:
    """The summary without its destination (`... → OUT`)."""
    return [line for line in err.splitlines() if line.startswith("read ")][-1].split(" → ")[0]


def assert_same_answers(ray_rows: list[dict], local: list[dict]) -> None:
    assert [r["id"] for r in ray_rows] == [r["id"] for r in local]
    assert [r["label"] for r in ray_rows] == [r["label"] for r in local]
    for mine, theirs in zip(ray_rows, local):
        assert set(mine) == set(theirs)
        for key in (k for k in theirs if k.startswith("score")):
            assert mine[key] == pytest.approx(theirs[key], abs=TOLERANCE)


def test_every_input_kind_gives_the_local_runs_ids_labels_scores_and_summary(fp32_model, inputs, tmp_path, capsys):
    local, _ = local_rows(fp32_model, inputs, tmp_path, "--all-scores")
    local_summary = summary_line(capsys.readouterr().err)
    out = tmp_path / "preds"
    assert ray_run(fp32_model, inputs, out, "--format", "jsonl", "--all-scores", actors=2) == 0
    assert summary_line(capsys.readouterr().err) == local_summary
    assert "read 18 rows, classified 15, skipped 3 (empty 3)" in local_summary
    assert sorted(p.name for p in out.iterdir()) == [SUMMARY_FILE, "part-00000.jsonl"]
    rows = [json.loads(line) for line in (out / "part-00000.jsonl").read_text(encoding="utf-8").splitlines()]
    assert_same_answers(rows, local)
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".preds")] == []  # no staging left behind


def test_parquet_is_the_default_and_ids_are_the_local_line_numbers(fp32_model, inputs, tmp_path, capsys):
    local, _ = local_rows(fp32_model, inputs[:1], tmp_path)
    out = tmp_path / "preds"
    assert ray_run(fp32_model, inputs[:1], out) == 0
    table = pq.read_table(out / "part-00000.parquet")
    assert table.column_names == ["id", "label", "score"]
    assert table["id"].to_pylist() == [1, 2, 3, 4, 5, 8, 9]  # lines 6 and 7 are empty: skipped, as locally
    assert_same_answers(table.to_pylist(), local)
    record = json.loads((out / SUMMARY_FILE).read_text(encoding="utf-8"))
    assert (record["read"], record["classified"], record["skipped"]) == (9, 7, {"empty": 2})


def test_a_threshold_override_reaches_the_actors_as_it_reaches_a_local_run(fp32_model, inputs, tmp_path):
    """`--threshold` changes labels (not scores) in both paths alike: an override is never dropped on a cluster."""
    plain, _ = local_rows(fp32_model, inputs[:1], tmp_path)
    strict, _ = local_rows(fp32_model, inputs[:1], tmp_path, "--threshold", "0.999", "--overwrite")
    assert [r["label"] for r in strict] != [r["label"] for r in plain]  # the override matters on these texts
    out = tmp_path / "preds"
    assert ray_run(fp32_model, inputs[:1], out, "--format", "jsonl", "--threshold", "0.999") == 0
    rows = [json.loads(line) for line in (out / "part-00000.jsonl").read_text(encoding="utf-8").splitlines()]
    assert_same_answers(rows, strict)


def test_bad_bytes_stop_the_run_with_the_local_message_and_write_nothing(fp32_model, tmp_path, capsys):
    src = tmp_path / "bad.txt"
    src.write_bytes(b"fine text\nbad \xff byte\nmore\n")
    assert main(["classify", str(fp32_model), str(src), "--threads", "1"]) == 1
    local_error = capsys.readouterr().err.strip().splitlines()[-1]
    out = tmp_path / "preds"
    assert ray_run(fp32_model, [src], out) == 1
    assert capsys.readouterr().err.strip().splitlines()[-1] == local_error
    assert "line 2: bytes that are not UTF-8" in local_error
    assert not out.exists()
    assert ray_run(fp32_model, [src], out, "--errors", "skip") == 0
    assert "read 3 rows, classified 2, skipped 1 (undecodable 1)" in capsys.readouterr().err


def test_overwrite_replaces_only_an_earlier_ray_output(fp32_model, inputs, tmp_path, capsys):
    out = tmp_path / "preds"
    assert ray_run(fp32_model, inputs[:1], out, "--format", "jsonl") == 0
    assert ray_run(fp32_model, inputs[:1], out) == 2
    assert "pass --overwrite" in capsys.readouterr().err
    assert ray_run(fp32_model, inputs[:1], out, "--overwrite") == 0
    assert sorted(p.name for p in out.iterdir()) == [SUMMARY_FILE, "part-00000.parquet"]
    foreign = tmp_path / "mine"
    foreign.mkdir()
    (foreign / "notes.txt").write_text("keep me", encoding="utf-8")
    assert ray_run(fp32_model, inputs[:1], foreign, "--overwrite") == 2
    assert (foreign / "notes.txt").read_text(encoding="utf-8") == "keep me"


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--ray"], "--ray needs --out DIR"),
        (["--address", "auto", "--out", "x"], "--address and --actors need --ray"),
        (["--ray", "--out", "x", "--resume"], "--resume is not available with --ray"),
        (["--ray", "--out", "x", "--top-k", "2"], "--top-k is not available with --ray"),
        (["--ray", "--out", "INPUT"], "is the input"),
        (["--format", "parquet", "--out", "x.jsonl"], "--format parquet needs --ray"),
    ],
)
def test_usage_mistakes_are_one_line_before_any_work(fp32_model, inputs, tmp_path, capsys, args, message):
    args = [str(inputs[0]) if a == "INPUT" else str(tmp_path / a) if a in ("x", "x.jsonl") else a for a in args]
    assert main(["classify", str(fp32_model), str(inputs[0]), *args]) == 2
    err = capsys.readouterr().err.strip()
    assert message in err and len(err.splitlines()) == 1


def test_a_dataset_keeps_its_columns_and_gets_classify_s_answers(fp32_model, tmp_path):
    items = [{"key": f"k{i}", "text": t, "extra": i} for i, t in enumerate(TEXTS)] + [{"key": "blank", "text": " "}]
    pq.write_table(pa.Table.from_pylist(items), tmp_path / "in.parquet")
    dataset = ray.data.read_parquet(str(tmp_path / "in.parquet"))
    rows = {r["key"]: r for r in classify_dataset(dataset, fp32_model, actors=1, all_scores=True).take_all()}
    expected = Classifier.load(fp32_model, threads=1).classify(TEXTS)
    assert sorted(rows) == sorted(f"k{i}" for i in range(len(TEXTS)))  # the blank text is skipped, as locally
    for i, prediction in enumerate(expected):
        row = rows[f"k{i}"]
        assert (row["text"], row["extra"], row["label"]) == (TEXTS[i], i, prediction.label)
        assert row["score"] == pytest.approx(prediction.score, abs=TOLERANCE)
        for label, score in prediction.scores.items():
            assert row[f"score_{label}"] == pytest.approx(score, abs=TOLERANCE)


@pytest.mark.parametrize("fmt", ["jsonl", "csv"])
def test_a_multi_label_file_gives_the_local_runs_bytes_and_summary(multilabel_model, inputs, tmp_path, capsys, fmt):
    """The labels column (a JSON list, a |-joined cell) and every score, byte for byte as a local run writes them."""
    local = tmp_path / f"local.{fmt}"
    assert (
        main(["classify", str(multilabel_model), *map(str, inputs), "-o", str(local), "--threads", "1", "--all-scores"])
        == 0
    )
    local_summary = summary_line(capsys.readouterr().err)
    assert "with no label" in local_summary
    out = tmp_path / "preds"
    assert ray_run(multilabel_model, inputs, out, "--format", fmt, "--all-scores", actors=2) == 0
    assert summary_line(capsys.readouterr().err) == local_summary
    assert (out / f"part-00000.{fmt}").read_bytes() == local.read_bytes()


def test_a_multi_label_parquet_output_holds_each_label_set_as_a_list(multilabel_model, tmp_path):
    source = tmp_path / "in.txt"
    source.write_text("the hotel\nthe lobby\n", encoding="utf-8")  # a batch of empty sets only: still typed
    out = tmp_path / "preds"
    assert ray_run(multilabel_model, [source], out) == 0
    table = pq.read_table(out / "part-00000.parquet")
    assert table.column_names == ["id", "label", "score", "labels"]
    assert table["labels"].to_pylist() == [[], []]
    assert table.schema.field("labels").type == pa.list_(pa.string())
