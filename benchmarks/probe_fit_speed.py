"""How long `probe train` (probe method) takes against the reference pipeline, on the same data, in one run.

    python -m benchmarks.probe_fit_speed [--datasets a,b] [--max-train N] [--old-max N]

Reference: sentence-transformers `SentenceTransformer(all-MiniLM-L6-v2).encode` (its own mean pooling
and L2 normalisation) + scikit-learn `LogisticRegressionCV(cv=5, max_iter=1000)` with its defaults.
probe: `probe_train.training.train` with the frozen MiniLM, the embedding cache off (embedding and one
cross-validated fit, as the reference), once as shipped by default and once with ``normalize=True``.
With ``--old-max``, datasets up to that many training rows also time the search this project used
before (`GridSearchCV` over the same 11 C values, BLAS unrestricted) on probe's own embeddings.
The pipelines alternate per dataset, so a busy machine slows all of them alike; the ratio is the figure.
Each pipeline's held-out accuracy is measured on the dataset's test split. Results go to
benchmarks/results/probe_fit_speed.{json,md} (rows of datasets not re-measured are kept).
"""

from __future__ import annotations

import argparse
import json
import time
import warnings
from typing import Any

from benchmarks.paths import REPO
from benchmarks.record import write_results
from benchmarks.splits import train_test

DATASETS = ("prompt_injections", "sms_spam", "tweeteval_offensive", "sst2")


def _reference(path: str, train: Any, test: Any) -> dict[str, Any]:
    from sentence_transformers import SentenceTransformer
    from sklearn.linear_model import LogisticRegressionCV

    model = SentenceTransformer(path, device="cpu")
    started = time.perf_counter()
    x = model.encode(train.texts, batch_size=32, show_progress_bar=False)
    embedded = time.perf_counter()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        clf = LogisticRegressionCV(cv=5, max_iter=1000).fit(x, train.y)
    done = time.perf_counter()
    accuracy = float((clf.predict(model.encode(test.texts, batch_size=32)) == test.y).mean())
    return {
        "seconds": done - started,
        "embed_seconds": embedded - started,
        "fit_seconds": done - embedded,
        "accuracy": accuracy,
    }


def _probe(encoder: Any, train: Any, test: Any, normalize: bool) -> dict[str, Any]:
    """What `train` does for the probe method (`training._fit_probe`): embed, then the cross-validated fit."""
    from probe_train.embeddings import embed_texts, use_fast_attention
    from probe_train.probe import fit_probe_cv

    use_fast_attention(encoder)  # as `train` does for the probe
    started = time.perf_counter()
    x = embed_texts(encoder, train.texts, show_progress=False, normalize=normalize)
    embedded = time.perf_counter()
    model, cv = fit_probe_cv(x, train.y)
    done = time.perf_counter()
    x_test = embed_texts(encoder, test.texts, show_progress=False, normalize=normalize)
    return {
        "seconds": done - started,
        "embed_seconds": embedded - started,
        "fit_seconds": done - embedded,
        "accuracy": float((model.predict(x_test) == test.y).mean()),
        "C": cv.C,
        "cv_accuracy": cv.accuracy,
    }


def _old_search(encoder: Any, train: Any) -> float:
    """The search as it was before this change: GridSearchCV, 55 cold fits in sequence, BLAS unrestricted."""
    from probe_train.embeddings import embed_texts
    from probe_train.probe import C_GRID
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GridSearchCV, StratifiedKFold

    x = embed_texts(encoder, train.texts, show_progress=False)
    started = time.perf_counter()
    search = GridSearchCV(
        LogisticRegression(max_iter=3000, random_state=0),
        {"C": C_GRID},
        cv=StratifiedKFold(n_splits=5, shuffle=True, random_state=0),
        scoring="accuracy",
        refit=True,
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        search.fit(x, train.y)
    return time.perf_counter() - started


def _markdown(rows: list[dict[str, Any]], note: str) -> str:
    lines = [
        "# Probe training time against sentence-transformers + LogisticRegressionCV",
        "",
        note,
        "",
        "| dataset | train rows | reference s (acc %) | probe s (acc %) | probe+L2 s (acc %) | probe / ref | "
        "probe fit s | ref fit s | old search s |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        ref, raw, l2 = r["reference"], r["probe"], r["probe_l2"]
        old = f"{r['old_search_seconds']:.1f}" if r.get("old_search_seconds") is not None else "-"
        lines.append(
            f"| {r['dataset']} | {r['n_train']} | {ref['seconds']:.1f} ({100 * ref['accuracy']:.2f}) | "
            f"{raw['seconds']:.1f} ({100 * raw['accuracy']:.2f}) | {l2['seconds']:.1f} ({100 * l2['accuracy']:.2f}) | "
            f"{raw['seconds'] / ref['seconds']:.2f}x | {raw['fit_seconds']:.1f} | {ref['fit_seconds']:.1f} | {old} |"
        )
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--datasets", default=",".join(DATASETS), help="comma-separated (default: all shared ones)")
    parser.add_argument("--max-train", type=int, default=None, help="subsample training sets above N rows (seeded)")
    parser.add_argument("--old-max", type=int, default=0, help="time the old GridSearchCV up to N training rows")
    args = parser.parse_args(argv)

    from probe_train.encoder import load_encoder, resolve_model

    encoder = load_encoder(None)
    path = resolve_model(None)
    rows = []
    for name in args.datasets.split(","):
        train, test, full = train_test(name, args.max_train)
        row: dict[str, Any] = {"dataset": name, "n_train": len(train), "n_train_full": full, "n_test": len(test)}
        row["reference"] = _reference(path, train, test)
        row["probe"] = _probe(encoder, train, test, normalize=False)
        row["probe_l2"] = _probe(encoder, train, test, normalize=True)
        if len(train) <= args.old_max:
            row["old_search_seconds"] = _old_search(encoder, train)
        print(_markdown([row], "").splitlines()[-1], flush=True)
        rows.append(row)
    out = REPO / "benchmarks" / "results" / "probe_fit_speed.json"
    if out.is_file():  # datasets measured by an earlier run (and not this one) stay in the results
        done = {r["dataset"] for r in rows}
        rows = [r for r in json.loads(out.read_text(encoding="utf-8"))["rows"] if r["dataset"] not in done] + rows
        rows.sort(key=lambda r: DATASETS.index(r["dataset"]) if r["dataset"] in DATASETS else len(DATASETS))
    sampled = [r for r in rows if r["n_train"] < r["n_train_full"]]
    parts = [f"{r['dataset']} ({r['n_train']} of {r['n_train_full']})" for r in sampled]
    note = "Full training sets" + (f", except seeded samples of {', '.join(parts)}" if parts else "")
    note += (
        "; test accuracy on each dataset's test split. Seconds are embedding + the cross-validated fit "
        "(probe: `train`, cache off). The machine was shared with other jobs: compare ratios, not absolute times."
    )
    write_results(out, {"rows": rows, "note": note}, _markdown(rows, note))
    print(f"wrote {out} and {out.with_suffix('.md')}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
