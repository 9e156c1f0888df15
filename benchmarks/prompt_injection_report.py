"""Prompt-injection detectors trained on deepset alone vs on the broader set, measured side by side.

For the probe and the fine-tuned MiniLM, each trained on ``data/prompt_injections/train.csv`` (deepset)
and on ``data/prompt_injections_broad/train.csv`` (broad), through the real command line
(``probe train``, then ``probe export`` with its defaults: int8 when it passes the gate), this scores
the exported file on deepset's test split, on every source's held-out test split and on the held-out
benign trigger-word prompts: accuracy, F1 and recall on injections, and the false-positive rate on
benign rows, at argmax and (when ``probe train`` has ``--operating-point``) at the operating point
chosen on validation data. Writes benchmarks/results/prompt_injection.{json,md} and
docs/prompt_injection.md.

    python -m benchmarks.prompt_injection_report                    # everything, probes first
    python -m benchmarks.prompt_injection_report --only probe       # the probe rows only
    python -m benchmarks.prompt_injection_report --finetune-epochs 2 --finetune-rows 1200

Fine-tuning on a shared 2-core CPU is slow, so its epochs and (for the broad set) training rows are
capped by the options above; the document says which caps were used.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.common.paths import REPO, WORK
from benchmarks.common.record import host_line, write_results
from benchmarks.data import labelled
from benchmarks.prompt_injection_families import generalisation
from benchmarks.prompt_injection_families import lines as generalisation_lines

OUT = WORK / "prompt_injection"
RESULTS = REPO / "benchmarks" / "results" / "prompt_injection.json"
DOC = REPO / "docs" / "prompt_injection.md"
DEEPSET = REPO / "data" / "prompt_injections"
BROAD = REPO / "data" / "prompt_injections_broad"
TRAIN_SETS = {
    "deepset": DEEPSET / "train.csv",
    "broad": BROAD / "train.csv",
    "deepset+notinject": BROAD / "train.csv",
    "broad-weighted": BROAD / "train.csv",
}
# Training sets drawn from the broad set's rows by source (written to benchmarks/.work when used): deepset plus
# NotInject's training half alone, i.e. deepset's labels with hard negatives and without the other sources'.
SOURCES_OF = {"deepset+notinject": {"deepset", "notinject"}}
# Training sets that are the broad set with per-row weights (`probe train --weight-column weight`): deepset's rows
# and NotInject's hard negatives count three times, the other sources once, so deepset's notion of an injection
# and the trigger-word negatives weigh more than Open-Assistant's and llm_warden's prompts, with no row duplicated.
WEIGHTS_OF = {"broad-weighted": {"deepset": 3.0, "notinject": 3.0}}
EVALS = {
    "deepset test": DEEPSET / "test.csv",
    "llm_warden test": BROAD / "test_llm_warden.csv",
    "open_assistant test": BROAD / "test_open_assistant.csv",
    "bipia_email test": BROAD / "test_bipia_email.csv",
    "benign trigger words": BROAD / "trigger_benign.csv",
}
# Parts of an evaluation file scored on their own: (file's split, which of its CSV rows belong to the part).
# NotInject is split by trigger word (data/prompt_injections_broad/README.md): "unseen words" are its held-out
# rows none of whose trigger words is a training row's, the strictest test of over-defence the data allows.
PARTS: dict[str, tuple[str, Callable[[dict[str, str]], bool]]] = {
    "benign trigger words: notinject": ("benign trigger words", lambda r: r["source"] == "notinject"),
    "benign trigger words: notinject, unseen words": (
        "benign trigger words",
        lambda r: r["source"] == "notinject" and r.get("words_trained") == "0",
    ),
    "benign trigger words: llm_warden + open_assistant": (
        "benign trigger words",
        lambda r: r["source"] != "notinject",
    ),
}
OPERATING_POINT = "fpr=0.05"
LABEL_NAMES = "0=benign,1=injection"  # what the demo's artifact shows (the data's labels stay 0/1)
SKIPPED = "export skipped: scored in fp32 from the model directory"
PROBE = [sys.executable, "-c", "from probe_export.cli import run; run()"]


def read_rows(path: Path) -> tuple[list[str], np.ndarray]:
    texts, labels, _ = read_sourced(path)
    return texts, labels


def read_sourced(path: Path) -> tuple[list[str], np.ndarray, list[dict[str, str]]]:
    """Texts, labels and the CSV rows themselves (``source`` is ``deepset`` in deepset's files, which have none)."""
    rows = [{"source": "deepset"} | r for r in labelled.records(path)]
    return [r["text"] for r in rows], np.array([int(r["label"]) for r in rows]), rows


def has_operating_point() -> bool:
    """Whether this checkout's ``probe train`` accepts ``--operating-point`` (issue 14)."""
    result = subprocess.run([*PROBE, "train", "--help"], capture_output=True, text=True, check=False)
    return "--operating-point" in result.stdout


def scores(labels: np.ndarray, predicted: np.ndarray) -> dict[str, float | None]:
    """Accuracy; F1 and recall on injections (label 1) where the split has some; FPR on its benign rows."""
    positives, negatives = labels == 1, labels == 0
    true_pos = int(np.sum(predicted[positives] == 1))
    predicted_pos = int(np.sum(predicted == 1))
    recall = true_pos / int(positives.sum()) if positives.any() else None
    precision = true_pos / predicted_pos if predicted_pos else 0.0
    f1 = None
    if recall is not None:
        f1 = 2 * precision * recall / (precision + recall) if precision + recall else 0.0
    fpr = float(np.mean(predicted[negatives] == 1)) if negatives.any() else None
    return {"accuracy": float(np.mean(predicted == labels)), "f1": f1, "recall": recall, "fpr": fpr}


@dataclass(frozen=True)
class Variant:
    method: str  # probe | finetune
    train_set: str  # deepset | broad | deepset+notinject

    @property
    def name(self) -> str:
        return f"{self.method}-{self.train_set}"


def training_file(variant: Variant, rows: int | None) -> Path:
    """The training CSV, or (fine-tuning on the broad set with ``rows``) a seeded subset of it.

    The subset keeps every deepset row (the test set the goal is measured on speaks deepset's language,
    German included) and fills the rest with a seeded sample of the other sources, stratified by label.
    """
    source = TRAIN_SETS[variant.train_set]
    if variant.train_set in SOURCES_OF:
        return _by_source(source, variant.train_set)
    if variant.train_set in WEIGHTS_OF:
        return _weighted(source, variant.train_set)
    if variant.method != "finetune" or rows is None:
        return source
    records = labelled.records(source)
    if len(records) <= rows:
        return source
    from sklearn.model_selection import train_test_split

    deepset = [r for r in records if r["source"] == "deepset"]
    others = [r for r in records if r["source"] != "deepset"]
    extra, _ = train_test_split(
        others, train_size=rows - len(deepset), random_state=0, stratify=[r["label"] for r in others]
    )
    return _write_rows(OUT / f"{variant.train_set}-train-{rows}.csv", deepset + extra)


def _write_rows(out: Path, records: list[dict[str, str]]) -> Path:
    """A derived training CSV in benchmarks/.work, with the columns of the rows it was drawn from."""
    return labelled.write_records(out, records)


def _weighted(source: Path, train_set: str) -> Path:
    """``source`` with a ``weight`` column: ``WEIGHTS_OF[train_set]`` by source, 1 for every other source."""
    weights = WEIGHTS_OF[train_set]
    records = [r | {"weight": f"{weights.get(r['source'], 1.0):g}"} for r in labelled.records(source)]
    return _write_rows(OUT / f"{train_set.replace(', ', '-').replace(' ', '')}-train.csv", records)


def _by_source(source: Path, train_set: str) -> Path:
    """The rows of ``source`` whose source is one of ``SOURCES_OF[train_set]``, in order, as a CSV of their own."""
    records = [r for r in labelled.records(source) if r["source"] in SOURCES_OF[train_set]]
    return _write_rows(OUT / f"{train_set}-train.csv", records)


def _stem(variant: Variant, seed: int) -> str:
    """The work files' name: the variant's, with the seed when it is not the default 0."""
    return variant.name if seed == 0 else f"{variant.name}-seed{seed}"


def train_and_export(
    variant: Variant, args: argparse.Namespace, operating_point: bool, seed: int = 0
) -> tuple[Path, list[str]]:
    """``probe train`` + default ``probe export``; returns the artifact and the commands run."""
    model, artifact = OUT / _stem(variant, seed), OUT / f"{_stem(variant, seed)}.onnx"
    run = commands(variant, args, operating_point, model, artifact, seed)
    for command in run:
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL)
    return artifact, [" ".join(c[3:]).replace(str(REPO) + "/", "") for c in run]


def commands(
    variant: Variant, args: argparse.Namespace, operating_point: bool, model: Path, artifact: Path, seed: int = 0
) -> list[list[str]]:
    data = training_file(variant, args.finetune_rows)
    train = [*PROBE, "train", str(data), "--test", str(DEEPSET / "test.csv"), "--out", str(model), "--overwrite"]
    train += ["--label-names", LABEL_NAMES]
    if variant.method == "finetune":
        train += ["--method", "finetune", "--epochs", str(args.finetune_epochs), "--max-length", str(args.max_length)]
    if variant.train_set in WEIGHTS_OF:
        train += ["--weight-column", "weight"]
    if operating_point:
        train += ["--operating-point", OPERATING_POINT]
    if seed:
        train += ["--seed", str(seed)]
    return [train, [*PROBE, "export", str(model), "--long-text", "window", "--out", str(artifact), "--overwrite"]]


def reused_commands(variant: Variant, args: argparse.Namespace, operating_point: bool, seed: int = 0) -> list[str]:
    """The commands that made an artifact being reused (the same settings must be passed again)."""
    model, artifact = OUT / _stem(variant, seed), OUT / f"{_stem(variant, seed)}.onnx"
    run = commands(variant, args, operating_point, model, artifact, seed)
    return [" ".join(c[3:]).replace(str(REPO) + "/", "") for c in run]


Predict = Callable[[list[str]], dict[str, np.ndarray]]  # texts -> {"argmax": labels, "operating_point": labels}


def evaluate(artifact: Path, operating_point: bool) -> dict[str, Any]:
    """Every evaluation split, at argmax and (if trained with one) at the artifact's own decision."""
    from probe_runtime import Classifier

    classifier = Classifier.load(str(artifact))
    label_of = np.array(classifier.labels)  # column order of predict_proba, as the data spells the labels
    # `predict` answers with the shown labels (the display names, e.g. benign/injection, when the artifact has them)
    data_label = dict(zip([str(c) for c in classifier.classes_], classifier.labels, strict=True))
    manifest = classifier.manifest

    def predict(texts: list[str]) -> dict[str, np.ndarray]:
        at = {"argmax": label_of[np.asarray(classifier.predict_proba(texts)).argmax(axis=1)]}
        if operating_point:
            at["operating_point"] = np.array([data_label[str(shown)] for shown in classifier.predict(texts)])
        return at

    info = {"quantization": str(manifest.quantization.value), "threshold": manifest.decision.threshold}
    threshold = manifest.decision.threshold if manifest.decision.threshold is not None else 0.5
    return score_splits(predict, info) | {"generalisation": generalisation(artifact, threshold)}


def evaluate_model_dir(model_dir: Path) -> dict[str, Any]:
    """The same figures from a probe's model directory in fp32 (PyTorch encoder + the trained head), no export.

    A fallback for a machine too busy to export: the exported int8 file's answers differ from these on a
    few texts (the export's gate bounds the flips), so a row scored this way is marked fp32 in the document.
    """
    from probe_train.embeddings import embed_texts
    from probe_train.encoder import load_encoder
    from probe_train.finetune import head_probabilities
    from probe_train.model_dir import load_trained

    model = load_trained(model_dir)
    if model.method != "probe":
        raise SystemExit(f"error: {model_dir}: only a probe's model directory can be scored without exporting")
    encoder = load_encoder(model.encoder, model.max_length)
    labels = np.array(model.labels)
    threshold = model.decision.threshold
    positive_label = model.decision.positive_label
    positive = list(model.labels).index(model.labels[-1] if positive_label is None else positive_label)

    def predict(texts: list[str]) -> dict[str, np.ndarray]:
        x = embed_texts(encoder, texts, model.pooling, model.layer, 32, False, normalize=model.normalize)
        proba = head_probabilities(x, model.weight, model.bias, model.temperature)
        at = {"argmax": labels[proba.argmax(axis=1)]}
        if threshold is not None:
            other = labels[1 - positive]
            at["operating_point"] = np.where(proba[:, positive] >= threshold, labels[positive], other)
        return at

    return score_splits(predict, {"quantization": "fp32 (model directory, not exported)", "threshold": threshold})


def score_splits(predict: Predict, info: dict[str, Any]) -> dict[str, Any]:
    """Score ``predict`` on every evaluation split and on the PARTS of the trigger-word set."""
    out: dict[str, Any] = {"artifact": info}
    predictions: dict[str, dict[str, np.ndarray]] = {}
    for split, path in EVALS.items():
        texts, labels, rows = read_sourced(path)
        at = predict(texts)
        out[split] = {"rows": len(texts)} | {key: scores(labels, predicted) for key, predicted in at.items()}
        predictions[split] = {"labels": labels, "rows": np.array(rows, dtype=object)} | at
    for part, (split, belongs) in PARTS.items():
        p = predictions[split]
        mask = np.array([belongs(r) for r in p["rows"]], dtype=bool)
        keys = [k for k in ("argmax", "operating_point") if k in p]
        out[part] = {"rows": int(mask.sum())} | {k: scores(p["labels"][mask], p[k][mask]) for k in keys}
    return out


def fmt(value: float | None) -> str:
    return "—" if value is None else f"{100 * value:.1f}"


def table(results: dict[str, Any], at: str) -> list[str]:
    head = "| model | trained on | **deepset acc** | deepset F1 / recall | llm_warden acc / F1 / recall |"
    head += " open_assistant FPR | bipia_email acc / recall / FPR | **benign trigger-word FPR** (all / NotInject /"
    head += " NotInject, unseen words / llm_warden+OA) |"
    lines = [head, "|---|---|---|---|---|---|---|---|"]
    for name, record in results["models"].items():
        e = record["eval"]
        if at not in e["deepset test"]:
            continue

        def get(split: str, metric: str, e: dict[str, Any] = e) -> str:
            return fmt(e[split][at][metric]) if split in e else "—"

        method, train_set = name.split("-", 1)
        lines.append(
            f"| {method} | {train_set} ({record['train_rows']}) | **{get('deepset test', 'accuracy')}** | "
            f"{get('deepset test', 'f1')} / {get('deepset test', 'recall')} | {get('llm_warden test', 'accuracy')} / "
            f"{get('llm_warden test', 'f1')} / {get('llm_warden test', 'recall')} | "
            f"{get('open_assistant test', 'fpr')} | "
            f"{get('bipia_email test', 'accuracy')} / {get('bipia_email test', 'recall')} / "
            f"{get('bipia_email test', 'fpr')} | **{get('benign trigger words', 'fpr')}** / "
            f"{get('benign trigger words: notinject', 'fpr')} / "
            f"{get('benign trigger words: notinject, unseen words', 'fpr')} / "
            f"{get('benign trigger words: llm_warden + open_assistant', 'fpr')} |"
        )
    return lines


SPREAD = (  # the seed-spread table's columns: (heading, split, metric)
    ("deepset acc", "deepset test", "accuracy"),
    ("benign trigger-word FPR", "benign trigger words", "fpr"),
    ("… NotInject, unseen words", "benign trigger words: notinject, unseen words", "fpr"),
    ("open_assistant FPR", "open_assistant test", "fpr"),
    ("llm_warden acc", "llm_warden test", "accuracy"),
)


def seed_table(results: dict[str, Any]) -> list[str]:
    """How much of a row is its seed: the row (seed 0) and every other seed trained like it, at argmax."""
    if not results.get("seeds"):
        return []
    lines = [
        "",
        "## Seed spread (at argmax)",
        "",
        "The same training command with other `--seed`s (the validation split, the initialisation of the head and "
        "the batch order change; the data do not). Seed 0 is the row above.",
        "",
        "| model | seed | " + " | ".join(heading for heading, _, _ in SPREAD) + " |",
        "|---|---:|" + "---:|" * len(SPREAD),
    ]
    for name, by_seed in results["seeds"].items():
        runs = {"0": results["models"][name]} if name in results["models"] else {}
        runs |= dict(sorted(by_seed.items(), key=lambda kv: int(kv[0])))
        for seed, run in runs.items():
            e = run["eval"]
            cells = [fmt(e[split]["argmax"][metric]) if split in e else "—" for _, split, metric in SPREAD]
            lines.append(f"| {name} | {seed} | " + " | ".join(cells) + " |")
        for label, pick in (("min", min), ("max", max)):
            cells = []
            for _, split, metric in SPREAD:
                values = [r["eval"][split]["argmax"][metric] for r in runs.values() if split in r["eval"]]
                values = [v for v in values if v is not None]
                cells.append(fmt(pick(values)) if values else "—")
            lines.append(f"| {name} | {label} | " + " | ".join(cells) + " |")
    lines.append("")
    for name, by_seed in results["seeds"].items():
        for seed, run in sorted(by_seed.items(), key=lambda kv: int(kv[0])):
            took = "time not recorded" if run["seconds"] is None else f"{run['seconds'] / 60:.1f} min"
            lines.append(f"- {name}, seed {seed}: " + "; ".join(f"`probe {c}`" for c in run["commands"]) + f" ({took})")
    return lines


FAMILY_ORDER = ("override", "jailbreak", "persona", "extraction", "role_tags", "indirect", "smuggling")


def generalisation_table(results: dict[str, Any]) -> list[str]:
    """Recall per attack family, long documents by position, and the FP-budget operating point (models scored
    with `benchmarks.prompt_injection_families`)."""
    rows = {name: r["eval"]["generalisation"] for name, r in results["models"].items() if "generalisation" in r["eval"]}
    if not rows:
        return []
    lines = [
        "",
        "## Attack families, long documents and a false-positive budget",
        "",
        "Recall at the artifact's own threshold on the held-out injections of each family (all evaluation files "
        "pooled; **smuggling is never trained on**: every row of it is held out and training injections matching "
        "its pattern are dropped). Long documents: 30 documents of ≥ 1,800 characters (> 256 tokens) made of "
        "BIPIA's test e-mails, each with one test attack at the start, middle or end, scored with the artifact's "
        "window policy (max over windows) and with truncation; FPR on the same documents without an attack. "
        "FP budget: the highest threshold flagging at most 5 % of a seeded half of the held-out benign rows "
        "(trigger words, Open-Assistant, long e-mails; none trained on), its FPR on the other half and the recall "
        "it leaves on deepset's test and on the never-trained family.",
        "",
        "| model | " + " / ".join(FAMILY_ORDER) + " | long docs, window: start / middle / end / FPR | long docs, "
        "truncate: start / middle / end / FPR | 5 % FP budget: threshold, FPR (other half), deepset recall, "
        "smuggling recall |",
        "|---|---|---|---|---|",
    ]
    for name, g in rows.items():
        fams = " / ".join(fmt(g["families"][f]["recall"]) if f in g["families"] else "—" for f in FAMILY_ORDER)
        long = [g["long_documents"][p] for p in ("artifact policy", "truncate")]
        cells = [" / ".join(fmt(v[k]) for k in ("recall start", "recall middle", "recall end", "fpr")) for v in long]
        fb = g["fp_budget"]
        budget = (
            f"{fb['threshold']:.3f}, {fmt(fb['fpr_other_half'])}, {fmt(fb['recall']['test'])}, "
            f"{fmt(fb['recall']['test_smuggling'])}"
        )
        lines.append(f"| {name} | {fams} | {cells[0]} | {cells[1]} | {budget} |")
    return lines


def document(results: dict[str, Any]) -> str:
    counts = ", ".join(f"{split} {n}" for split, n in results["eval_rows"].items())
    lines = [
        "# Prompt injection: deepset alone vs the broader set",
        "",
        "Generated by `python -m benchmarks.prompt_injection_report` (figures: "
        "`benchmarks/results/prompt_injection.json`). Data: `data/prompt_injections/` (deepset) and "
        "`data/prompt_injections_broad/` (sources, licences, dedup and splits in its README). Every model is "
        "trained with `probe train` and exported with the default `probe export` (int8 when it passes the "
        "gate); the figures are the exported file's, scored with `probe-runtime`'s `Classifier`.",
        "",
        f"Evaluation rows: {counts}. None of them is in any training set (exact or near duplicate: "
        "character 5-gram Jaccard ≥ 0.8). Percentages; F1 and recall are on injections (label 1); FPR is the "
        "share of benign rows flagged. Labels follow one rule across sources (deepset's): a prompt that gives "
        "the model another persona or role is an injection (see the data README's label rule), so llm_warden's "
        "role-play prompts count as injections here. The benign trigger-word set is NotInject (benign prompts "
        "built around injection trigger words) plus llm_warden/Open-Assistant benign prompts with `ignore`, "
        "`forget`, `pretend`… later in the text; none is trained on. NotInject is split by trigger word: the "
        "broad training set holds its rows built only from a seeded half of its trigger words (the hard "
        "negatives), this set every row with at least one word of the other half; 'unseen words' are the rows "
        "none of whose trigger words any training row was built around.",
        "",
        "## At argmax",
        "",
        *table(results, "argmax"),
        *generalisation_table(results),
        "",
        f"## At an operating point chosen on validation data (`probe train --operating-point {OPERATING_POINT}`)",
        "",
    ]
    if results["operating_point"]:
        lines += table(results, "operating_point")
    else:
        lines.append(
            "pending: this checkout's `probe train` has no `--operating-point` yet (issue 14); rerun the "
            "report once it has."
        )
    lines += seed_table(results)
    lines += ["", "## How it was run", "", *[f"- {note}" for note in results["notes"]], ""]
    for name, record in results["models"].items():
        took = (
            "time not recorded" if record["seconds"] is None else f"{record['seconds'] / 60:.1f} min on the shared CPU"
        )
        art = record["eval"].get("artifact", {})
        kind = f"{art.get('quantization', '?')}, threshold {art.get('threshold')}"
        run = "; ".join(c if c == SKIPPED else f"`probe {c}`" for c in record["commands"])
        lines.append(f"- {name} ({kind}): {run} ({took})")
    lines += ["", host_line(results["host"]), ""]
    return "\n".join(lines)


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--only", choices=["probe", "finetune"], help="run one method (merges into the JSON)")
    parser.add_argument("--train-set", choices=list(TRAIN_SETS), help="run one training set (merges into the JSON)")
    parser.add_argument("--finetune-epochs", type=int, default=3, help="fine-tuning epochs (default 3)")
    parser.add_argument(
        "--finetune-rows", type=int, default=None, help="seeded stratified subset of the broad set for fine-tuning"
    )
    parser.add_argument("--max-length", type=int, default=128, help="fine-tuning tokens per text (default 128)")
    parser.add_argument(
        "--reuse", action="store_true", help="score an artifact already in benchmarks/.work instead of retraining"
    )
    parser.add_argument(
        "--seeds",
        type=int,
        nargs="+",
        default=[],
        metavar="SEED",
        help="also train, export and score the variants run with these `probe train --seed`s (seed 0 is the row "
        "itself), for the seed-spread table; with --reuse, a seed's file already in benchmarks/.work is scored",
    )
    parser.add_argument("--seeds-only", action="store_true", help="with --seeds: do not re-measure the rows")
    parser.add_argument("--note", action="append", default=[], help="a note for the document (repeatable)")
    parser.add_argument("--render", action="store_true", help="only rewrite the documents from the recorded JSON")
    parser.add_argument(
        "--replace-notes", action="store_true", help="with --render: the --note texts replace the recorded notes"
    )
    parser.add_argument(
        "--fp32-dir",
        action="store_true",
        help="score a probe's model directory already in benchmarks/.work in fp32 instead of exporting (busy machine)",
    )
    parser.add_argument(
        "--score",
        type=Path,
        metavar="ARTIFACT",
        help="print one exported file's figures on every evaluation split and write nothing (what `make demo` runs)",
    )
    return parser.parse_args(argv)


def measure(variant: Variant, args: argparse.Namespace, operating_point: bool) -> dict[str, Any]:
    """Train, export (unless reusing) and score one variant."""
    if args.fp32_dir:
        model_dir = OUT / variant.name
        commands = reused_commands(variant, args, operating_point)[:1]
        return {
            "commands": [*commands, SKIPPED],
            "seconds": None,
            "train_rows": len(labelled.records(training_file(variant, None))),
            "eval": evaluate_model_dir(model_dir),
        }
    train_rows = len(labelled.records(training_file(variant, args.finetune_rows)))
    return scored(variant, args, operating_point) | {"train_rows": train_rows}


def scored(variant: Variant, args: argparse.Namespace, operating_point: bool, seed: int = 0) -> dict[str, Any]:
    """Trained and exported (or, with ``--reuse``, the file already there), then scored: a row, or (``seed``
    other than 0) one more seed of it for the seed-spread table."""
    started = time.perf_counter()
    artifact = OUT / f"{_stem(variant, seed)}.onnx"
    if args.reuse and artifact.exists():
        run, seconds = reused_commands(variant, args, operating_point, seed), None
    else:
        artifact, run = train_and_export(variant, args, operating_point, seed)
        seconds = time.perf_counter() - started
    return {"commands": run, "seconds": seconds, "eval": evaluate(artifact, operating_point)}


def merge(
    name: str | None,
    result: dict[str, Any] | None,
    operating_point: bool,
    notes: list[str],
    seed: int | None = None,
) -> dict[str, Any]:
    """Add one model's figures (a row, or with ``seed`` one more seed of it) to the recorded JSON at once,
    so an interrupted run keeps what it measured."""
    previous = json.loads(RESULTS.read_text(encoding="utf-8")) if RESULTS.exists() else {}
    rows = {name: result} if name and result is not None and seed is None else {}
    models = previous.get("models", {}) | rows
    seeds = previous.get("seeds", {})
    if name and result is not None and seed is not None:
        seeds = seeds | {name: seeds.get(name, {}) | {str(seed): result}}
    order = [f"{m}-{t}" for m in ("probe", "finetune") for t in TRAIN_SETS]
    record = {
        "operating_point": operating_point,
        "eval_rows": {split: len(read_rows(path)[0]) for split, path in EVALS.items()},
        "notes": list(dict.fromkeys(previous.get("notes", []) + notes)),
        "models": {key: models[key] for key in order if key in models},
    }
    if seeds:
        record["seeds"] = {key: seeds[key] for key in order if key in seeds}
    return write_results(RESULTS, record)


def score_lines(artifact: Path) -> list[str]:
    """One exported file's figures on every evaluation split, as a small aligned table."""
    from probe_runtime import Classifier

    threshold = Classifier.load(str(artifact)).manifest.decision.threshold
    result = evaluate(artifact, operating_point=threshold is not None)
    rule = "argmax" if threshold is None else f"its stored threshold {threshold:.3f}"
    at = "argmax" if threshold is None else "operating_point"
    lines = [
        f"{artifact.name} ({result['artifact']['quantization']}), decisions at {rule}; percentages",
        f"{'split':<52}{'rows':>6}{'acc':>7}{'F1':>7}{'recall':>8}{'FPR':>7}",
    ]
    for split, row in result.items():
        if split in ("artifact", "generalisation"):
            continue
        s = row[at]
        lines.append(
            f"{split:<52}{row['rows']:>6}{fmt(s['accuracy']):>7}{fmt(s['f1']):>7}{fmt(s['recall']):>8}{fmt(s['fpr']):>7}"
        )
    return lines + generalisation_lines(result["generalisation"], threshold if threshold is not None else 0.5)


def main(argv: list[str] | None = None) -> None:
    args = parse_args(argv)
    if args.score:
        if not args.score.is_file():
            raise SystemExit(f"error: {args.score}: no such exported file; run `probe export` first")
        print("\n".join(score_lines(args.score)))
        return
    if args.render:
        previous = json.loads(RESULTS.read_text(encoding="utf-8"))
        if args.replace_notes:
            RESULTS.write_text(json.dumps(previous | {"notes": []}), encoding="utf-8")
        write_documents(merge(None, None, previous["operating_point"], args.note))
        return
    operating_point = has_operating_point()
    methods = [args.only] if args.only else ["probe", "finetune"]
    train_sets = [args.train_set] if args.train_set else list(TRAIN_SETS)
    record = merge(None, None, operating_point, args.note)
    for variant in (Variant(m, t) for m in methods for t in train_sets):
        if not args.seeds_only:
            print(f"{variant.name}: training and exporting…", flush=True)
            result = measure(variant, args, operating_point)
            record = merge(variant.name, result, operating_point, [])
            print(f"{variant.name}: {json.dumps(result['eval'])}", flush=True)
        for seed in args.seeds:
            print(f"{variant.name}, seed {seed}: training and exporting…", flush=True)
            record = merge(variant.name, scored(variant, args, operating_point, seed), operating_point, [], seed)
    write_documents(record)


def write_documents(record: dict[str, Any]) -> None:
    text = document(record)
    RESULTS.with_suffix(".md").write_text(text, encoding="utf-8")
    DOC.write_text(text, encoding="utf-8")
    print(f"wrote {DOC.relative_to(REPO)}")


if __name__ == "__main__":
    main()
