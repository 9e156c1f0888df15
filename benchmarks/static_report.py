"""The edge tier (issue 32, phase 1): a static encoder distilled from MiniLM against Model2Vec and the full probe.

    python -m benchmarks.static_report [--datasets a,b] [--max-train N] [--dims 256] [--m2v-epochs 10]

Per dataset, on the same training rows and the same test split, in one run:
- **static (ours)**: `probe_train.static_encoder.distill_static` (MiniLM's output for every vocabulary token,
  PCA to ``--dims``, Zipf/SIF weights), a logistic-regression probe (C by CV, L2-normalised vectors), then
  head and table fine-tuned (`probe_train.static_module.finetune_static`), exported with an int8 table
  (`probe_export.static_graph`) into the one-file artifact and run by `probe_runtime.Classifier`: the accuracy
  is the file's;
- **Model2Vec**: ``model2vec.distill`` on the same MiniLM (its defaults: 256 PCA dims, SIF 1e-4), then its
  ``StaticModelForClassification.fit`` (table + MLP head, early stopping, at most ``--m2v-epochs``) and
  ``to_pipeline()``: the ``StaticModelPipeline`` a Model2Vec user ships;
- **full MiniLM probe**: `probe train` with its defaults (benchmarks/.work/static/minilm-<dataset>, trained
  first by the commands in the module's ``MINILM`` note) and, on SST-2, its `probe export` default file.

Speed on SST-2's test phrases, the files timed in alternation (best of ``ROUNDS``): texts/s over the whole
test set (one call, the runtime's default threads), batch-1 p50 (one text per call), and where the static
file's batch-1 time goes (tokenizer, ``session.run``, the rest: Python). File size in MB.

Model2Vec needs ``pip install --no-deps model2vec skeletoken`` plus ``pip install datasets pydantic`` (its
``[distill]`` extra pins ``transformers<5.4``, which would downgrade ours; see the report). The distilled
tables are cached in benchmarks/.work/static/ (git-ignored).
Results: benchmarks/results/static.{json,md}.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.paths import REPO, WORK
from benchmarks.common.record import write_results
from benchmarks.data.splits import train_test

DATASETS = ("prompt_injections", "sms_spam", "tweeteval_offensive", "sst2")
STATIC = WORK / "static"
RESULTS = REPO / "benchmarks" / "results" / "static.json"
ROUNDS = 3
SINGLE = 300  # texts timed one at a time for the batch-1 p50
MINILM = "probe train <data>/<ds>/train.csv --test <data>/<ds>/test.csv --out benchmarks/.work/static/minilm-<ds>"


def _load() -> float:
    return round(os.getloadavg()[0], 2)


def _table(encoder: Any, dims: int) -> Any:
    """Our distilled table, from the cache when this encoder was distilled at these dims before."""
    from probe_train.static_encoder import StaticTable, distill_static

    path = STATIC / f"table-{encoder.name}-{dims}.npz"
    if path.is_file():
        saved = np.load(path)
        return StaticTable(saved["vectors"], saved["weights"], encoder.name, 1e-4, float(saved["kept"]))
    started = time.perf_counter()
    table = distill_static(encoder, dims=dims, show_progress=True)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.savez(path, vectors=table.vectors, weights=table.weights, kept=table.explained_variance)
    print(f"distilled {encoder.name} in {time.perf_counter() - started:.0f} s")
    return table


def _m2v_model(encoder: Any) -> Any:
    """Model2Vec's own distillation of the same encoder (cached)."""
    try:
        from model2vec import StaticModel
        from model2vec.distill import distill
    except ImportError:
        raise SystemExit(  # noqa: B904 (a missing extra: one line, no traceback)
            "Model2Vec is missing: pip install --no-deps model2vec skeletoken && pip install datasets pydantic"
        )
    path = STATIC / f"m2v-{encoder.name}"
    if not path.is_dir():
        started = time.perf_counter()
        distill(encoder.path, pca_dims=256).save_pretrained(str(path))
        print(f"model2vec distilled {encoder.name} in {time.perf_counter() - started:.0f} s")
    return StaticModel.from_pretrained(str(path))


def _ours(encoder: Any, table: Any, train: Any, test: Any, name: str) -> tuple[dict[str, Any], Path]:
    """Probe, fine-tune, export (int8 table), and the file's accuracy through the runtime."""
    from probe_runtime import Classifier
    from probe_train.classifier_module import text_encoder
    from probe_train.probe import fit_probe_cv, softmax_head
    from probe_train.static_encoder import embed_static
    from probe_train.static_module import StaticClassifier, StaticFinetune, finetune_static

    tokens = text_encoder(encoder)
    started = time.perf_counter()
    model, cv = fit_probe_cv(embed_static(table, tokens, train.texts, True), train.y)
    probe_accuracy = float((model.predict(embed_static(table, tokens, test.texts, True)) == test.y).mean())
    module = StaticClassifier.with_head(table, *softmax_head(model), normalize=True)
    module, figures = finetune_static(
        module, tokens, train.texts, train.y, StaticFinetune(epochs=8, learning_rate=1e-2)
    )
    seconds = time.perf_counter() - started
    files = {
        int8: _write(encoder, module, train.labels, STATIC / f"static-{name}-{'int8' if int8 else 'fp32'}.onnx", int8)
        for int8 in (False, True)
    }
    accuracy = {
        k: float((Classifier.load(p).predict_proba(test.texts).argmax(1) == test.y).mean()) for k, p in files.items()
    }
    return {
        "probe_accuracy": probe_accuracy,
        "probe_cv_accuracy": cv.accuracy,
        "accuracy_fp32": accuracy[False],
        "accuracy": accuracy[True],
        "mb": round(files[True].stat().st_size / 1e6, 2),
        "mb_fp32": round(files[False].stat().st_size / 1e6, 2),
        "train_seconds": round(seconds, 1),
        **figures,
    }, files[True]


def _write(encoder: Any, module: Any, labels: Sequence[Any], out: Path, int8: bool) -> Path:
    from probe_export.static_graph import STATIC_INPUTS, StaticHead, static_graph, write_static_artifact
    from probe_runtime.artifact import Manifest
    from probe_train.encoder import pad_token_id, tokenizer_json

    table = module.to_table()
    graph = static_graph(table.vectors, table.weights, StaticHead(*module.head_arrays(), True), int8)
    manifest = Manifest(
        labels=list(labels),
        max_length=encoder.max_length,
        pooling="mean",
        base_encoder=encoder.name,
        input_names=list(STATIC_INPUTS),
        pad_token_id=pad_token_id(encoder),
        layer=0,
        encoder_layers=0,
        created_by="benchmarks/static_report.py (issue 32 phase 1)",
    )
    out.unlink(missing_ok=True)  # our own scratch file from an earlier run
    return write_static_artifact(graph, manifest, tokenizer_json(encoder), out)


def _model2vec(m2v: Any, train: Any, test: Any, epochs: int) -> tuple[dict[str, Any], Any]:
    from model2vec.train import StaticModelForClassification

    started = time.perf_counter()
    classifier = StaticModelForClassification.from_static_model(model=m2v)
    classifier.fit(list(train.texts), [str(train.labels[i]) for i in train.y], max_epochs=epochs, device="cpu")
    pipeline = classifier.to_pipeline()
    seconds = time.perf_counter() - started
    predicted = pipeline.predict(list(test.texts), use_multiprocessing=False)
    truth = [str(test.labels[i]) for i in test.y]
    accuracy = float(np.mean([p == t for p, t in zip(predicted, truth)]))
    return {"accuracy": accuracy, "train_seconds": round(seconds, 1)}, pipeline


def _minilm(name: str) -> dict[str, Any] | None:
    from probe_train.model_dir import load_trained

    path = STATIC / f"minilm-{name}"
    if not (path / "config.json").is_file():
        print(f"{path} missing: `{MINILM.replace('<ds>', name)}` first; the full probe is left out")
        return None
    report = load_trained(path).report
    return {"accuracy": float(report["accuracy"]), "macro_f1": float(report["macro_f1"])}


def _p50_us(call: Callable[[str], Any], texts: Sequence[str]) -> float:
    times = []
    for text in texts:
        started = time.perf_counter_ns()
        call(text)
        times.append(time.perf_counter_ns() - started)
    return round(statistics.median(times) / 1000, 1)


def _throughput(call: Callable[[list[str]], Any], texts: list[str]) -> float:
    started = time.perf_counter()
    call(texts)
    return round(len(texts) / (time.perf_counter() - started), 1)


def _contenders(files: dict[str, Path], pipeline: Any) -> dict[str, tuple[Callable, Callable]]:
    """name -> (batch call, one-text call): the runtime's files, and Model2Vec's pipeline as its users call it."""
    from probe_runtime import Classifier

    calls: dict[str, tuple[Callable, Callable]] = {}
    for name, path in files.items():
        classifier = Classifier.load(path)
        calls[name] = (classifier.predict_proba, lambda text, c=classifier: c.predict_proba([text]))
    if pipeline is not None:
        calls["model2vec pipeline"] = (
            lambda texts: pipeline.predict_proba(texts, use_multiprocessing=False),
            lambda text: pipeline.predict_proba([text], use_multiprocessing=False),
        )
    return calls


def _speed(files: dict[str, Path], pipeline: Any, texts: list[str]) -> dict[str, Any]:
    """texts/s and batch-1 p50 of every contender, timed in alternation, best of ``ROUNDS``."""
    calls = _contenders(files, pipeline)
    single = texts[:SINGLE]
    best: dict[str, dict[str, float]] = {name: {"texts_per_s": 0.0, "p50_us": float("inf")} for name in calls}
    load_before = _load()
    for _ in range(ROUNDS):
        for name, (batch, one) in calls.items():
            batch(texts[:64])  # warm
            best[name]["texts_per_s"] = max(best[name]["texts_per_s"], _throughput(batch, texts))
            best[name]["p50_us"] = min(best[name]["p50_us"], _p50_us(one, single))
    return {"contenders": best, "load": [load_before, _load()], "texts": len(texts), "single_texts": len(single)}


def _breakdown(path: Path, texts: list[str]) -> dict[str, float]:
    """Where one text's time goes in `Classifier.predict_proba([text])`: tokenizer, session.run, the rest."""
    from probe_runtime import Classifier

    classifier = Classifier.load(path)
    tokens, session = classifier.encoder, classifier.session
    single = texts[:SINGLE]
    feeds = [next(tokens.batches(tokens.encode([t]), 1, 10**6)).feeds for t in single]
    run = iter(feeds * ROUNDS)
    figures = {"total_us": float("inf"), "tokenizer_us": float("inf"), "session_run_us": float("inf")}
    for _ in range(ROUNDS):
        figures["total_us"] = min(figures["total_us"], _p50_us(lambda t: classifier.predict_proba([t]), single))
        figures["tokenizer_us"] = min(figures["tokenizer_us"], _p50_us(lambda t: tokens.encode([t]), single))
        figures["session_run_us"] = min(
            figures["session_run_us"], _p50_us(lambda _t: session.run(["probabilities"], next(run)), single)
        )
    figures["python_us"] = round(figures["total_us"] - figures["tokenizer_us"] - figures["session_run_us"], 1)
    return figures


def run(datasets: Sequence[str], max_train: int | None, dims: int, m2v_epochs: int) -> dict[str, Any]:
    """Every dataset's accuracy row, then SST-2's speed table; written to benchmarks/results/static.*."""
    from probe_train.encoder import load_encoder

    encoder = load_encoder("minilm")
    table = _table(encoder, dims)
    m2v = _m2v_model(encoder)
    rows, speed, breakdown = {}, None, None
    for name in datasets:
        train, test, full = train_test(name, max_train)
        print(f"{name}: {len(train)} of {full} training rows, {len(test)} test rows (load {_load()})")
        ours, static_file = _ours(encoder, table, train, test, name)
        theirs, pipeline = _model2vec(m2v, train, test, m2v_epochs)
        rows[name] = {
            "train_rows": len(train),
            "test_rows": len(test),
            "static": ours,
            "model2vec": theirs,
            "minilm": _minilm(name),
        }
        print(f"  static {ours['accuracy']:.4f}  model2vec {theirs['accuracy']:.4f}  minilm {rows[name]['minilm']}")
        if name == "sst2":
            files = {
                "static int8 file": static_file,
                "static fp32 file": static_file.with_name("static-sst2-fp32.onnx"),
            }
            if (STATIC / "minilm-sst2.onnx").is_file():
                files["MiniLM default file"] = STATIC / "minilm-sst2.onnx"
            speed = _speed(files, pipeline, list(test.texts))
            breakdown = _breakdown(static_file, list(test.texts))
    record = {
        "datasets": rows,
        "speed_sst2": speed,
        "static_batch1_breakdown": breakdown,
        "dims": dims,
        "max_train": max_train,
        "m2v_epochs": m2v_epochs,
        "table_explained_variance": table.explained_variance,
    }
    return write_results(RESULTS, record, markdown(record))


def _pct(value: float | None) -> str:
    return "–" if value is None else f"{100 * value:.2f}"


def _goals(record: dict[str, Any]) -> list[str]:
    """The issue's goals, each met or not, from the figures above."""
    rows = record["datasets"]
    close = [n for n, r in rows.items() if r["minilm"] and r["static"]["accuracy"] >= r["minilm"]["accuracy"] - 0.02]
    beats = [n for n, r in rows.items() if r["static"]["accuracy"] >= r["model2vec"]["accuracy"]]
    lines = [
        f"- accuracy within 2 points of the full MiniLM probe: {len(close)} of {len(rows)} "
        f"({', '.join(close) or 'none'}); goal 3 of 4: {'met' if len(close) >= 3 else 'not met'}",
        f"- accuracy equal to or above Model2Vec's pipeline: {len(beats)} of {len(rows)} "
        f"({', '.join(beats) or 'none'})",
    ]
    speed = record["speed_sst2"]
    if speed:
        c = speed["contenders"]
        ours = c["static int8 file"]
        size = rows["sst2"]["static"]["mb"]
        lines.append(f"- file {size} MB: goal <= 10 MB {'met' if size <= 10 else 'not met'}")
        lines.append(
            f"- batch-1 p50 {ours['p50_us']} us: goal <= 100 us {'met' if ours['p50_us'] <= 100 else 'not met'}"
        )
        if "MiniLM default file" in c:
            ratio = ours["texts_per_s"] / c["MiniLM default file"]["texts_per_s"]
            lines.append(
                f"- {ratio:.1f}x the MiniLM default file's texts/s: goal >= 50x {'met' if ratio >= 50 else 'not met'}"
            )
        if "model2vec pipeline" in c:
            m = c["model2vec pipeline"]
            lines.append(
                f"- against Model2Vec's pipeline: {ours['texts_per_s'] / m['texts_per_s']:.1f}x its texts/s, "
                f"batch-1 p50 {ours['p50_us']} vs {m['p50_us']} us"
            )
    return lines


def markdown(record: dict[str, Any]) -> str:
    lines = [
        "# Static encoder (issue 32, phase 1): distilled MiniLM vs Model2Vec vs the full MiniLM probe",
        "",
        "`python -m benchmarks.static_report` — our table: MiniLM's output per vocabulary token, PCA to "
        f"{record['dims']} dims, Zipf/SIF weights, L2-normalised weighted mean, probe then head+table fine-tuned, "
        "int8 table in the file. "
        "Model2Vec: its distill (256 dims) + `StaticModelForClassification` + `to_pipeline()` "
        f"(at most {record['m2v_epochs']} epochs). Full MiniLM: `probe train` defaults. Test accuracy %, same rows.",
        "",
        "| dataset | train rows | static probe | static fine-tuned (file, int8) | fp32 file | Model2Vec pipeline "
        "| full MiniLM probe | static file MB |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name, r in record["datasets"].items():
        s, m, full = r["static"], r["model2vec"], r["minilm"]
        lines.append(
            f"| {name} | {r['train_rows']} | {_pct(s['probe_accuracy'])} | {_pct(s['accuracy'])} "
            f"| {_pct(s['accuracy_fp32'])} | {_pct(m['accuracy'])} | {_pct(full and full['accuracy'])} | {s['mb']} |"
        )
    speed = record["speed_sst2"]
    if speed:
        lines += [
            "",
            f"Speed on SST-2's {speed['texts']} test phrases (texts/s: one call over all; batch-1 p50 over "
            f"{speed['single_texts']} one-text calls; alternated, best of {ROUNDS}; 1-min load {speed['load'][0]} -> "
            f"{speed['load'][1]} on 2 cores):",
            "",
            "| contender | texts/s | batch-1 p50 (us) |",
            "|---|---:|---:|",
        ]
        lines += [f"| {n} | {c['texts_per_s']:.0f} | {c['p50_us']} |" for n, c in speed["contenders"].items()]
        b = record["static_batch1_breakdown"]
        lines += [
            "",
            f"Where the static int8 file's batch-1 time goes (p50, us): total {b['total_us']}, tokenizer "
            f"{b['tokenizer_us']}, session.run {b['session_run_us']}, "
            f"the rest (Python in Classifier) {b['python_us']}.",
        ]
    return "\n".join([*lines, "", "Goals:", "", *_goals(record)])


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS))
    parser.add_argument("--max-train", type=int, default=None, help="seeded sample of at most N training rows")
    parser.add_argument("--dims", type=int, default=256, help="PCA dimensions of our table (default 256)")
    parser.add_argument("--m2v-epochs", type=int, default=10, help="Model2Vec classifier's epoch cap (default 10)")
    args = parser.parse_args(argv)
    record = run(args.datasets.split(","), args.max_train, args.dims, args.m2v_epochs)
    print(markdown(record))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
