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
import json
import os
import random
import re
import subprocess
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

from data.prompt_injections_broad.dedup import ReferenceIndex, unique_exact

HERE = Path(__file__).resolve().parent
DEEPSET = HERE.parent / "prompt_injections"
SEED = 18
TRIGGER_HOLDOUT = 0.5  # share of the benign trigger-word prompts held out (the rest are training hard negatives)
NOTINJECT_HOLDOUT = 0.5  # share of NotInject's trigger words held out: rows with only the others are hard negatives
OPEN_ASSISTANT_TEST = 0.2
EMAIL_CHARS = 600

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


@dataclass(frozen=True)
class Blob:
    """One input file: where it lives, exactly."""

    repo: str
    commit: str
    path: str

    def read(self, mirrors: Path) -> str:
        git_dir = mirrors / self.repo.replace("/", "+") / "repo"
        return subprocess.run(
            ["git", "--git-dir", str(git_dir), "show", f"{self.commit}:{self.path}"],
            check=True,
            capture_output=True,
        ).stdout.decode("utf-8")


@dataclass(frozen=True)
class Source:
    name: str
    repo: str
    commit: str
    licence: str


LLM_WARDEN = Source("llm_warden", "jackhhao/llm-warden", "7bfdc5aaa72ed692ec23117204c0f5bc02b31005", "MIT")
OPEN_ASSISTANT = Source(
    "open_assistant", "LAION-AI/Open-Assistant", "f1e6ed9526f5817531f3ab85441a40b3671ddccb", "Apache-2.0"
)
BIPIA = Source("bipia_email", "microsoft/BIPIA", "1a2a91da6bb12838e05d1b2e54d98e2f37b835f3", "MIT")
NOTINJECT = Source("notinject", "leolee99/PIGuard", "1b5751e88bf7475acbedfc8eda795ce060307c84", "MIT")
DEEPSET_SOURCE = "deepset"
LICENCES = {DEEPSET_SOURCE: "Apache-2.0"} | {s.name: s.licence for s in (LLM_WARDEN, OPEN_ASSISTANT, BIPIA, NOTINJECT)}


def blob(source: Source, path: str) -> Blob:
    return Blob(source.repo, source.commit, path)


@dataclass
class Row:
    text: str
    label: int
    source: str
    # NotInject's own trigger words for the row, and whether one of them is also a trigger word of a NotInject
    # row in training (held-out rows only; the report's "unseen trigger words" slice reads it).
    trigger_words: tuple[str, ...] = ()
    words_trained: bool = False


Split = list[Row]


def read_csv(path: Path, source: str) -> Split:
    with path.open(encoding="utf-8", newline="") as f:
        return [Row(r["text"], int(r["label"]), source) for r in csv.DictReader(f)]


def llm_warden(mirrors: Path) -> tuple[Split, Split]:
    """jailbreak_dataset_{train,test}.csv (columns prompt, type): jailbreak -> 1, benign -> 0; its own split."""

    def load(part: str) -> Split:
        text = blob(LLM_WARDEN, f"datasets/default/jailbreak_dataset_{part}.csv").read(mirrors)
        rows = csv.DictReader(text.splitlines(keepends=True))
        return [Row(r["prompt"], {"jailbreak": 1, "benign": 0}[r["type"]], LLM_WARDEN.name) for r in rows]

    return load("train"), load("test")


OPEN_ASSISTANT_FILES = ("en_100_text.jsonl", "prompt_lottery_en_250_text.jsonl")


def open_assistant(mirrors: Path) -> tuple[Split, Split]:
    """Benign user prompts of the manual evaluation (each line one JSON string), split seeded 80/20."""
    rows = []
    for name in OPEN_ASSISTANT_FILES:
        lines = blob(OPEN_ASSISTANT, f"model/model_eval/manual/data/{name}").read(mirrors).splitlines()
        rows += [Row(json.loads(line), 0, OPEN_ASSISTANT.name) for line in lines if line.strip()]
    rows = [rows[i] for i in unique_exact([r.text for r in rows])]
    random.Random(SEED).shuffle(rows)
    cut = round(len(rows) * OPEN_ASSISTANT_TEST)
    return rows[cut:], rows[:cut]


def cap(text: str, chars: int = EMAIL_CHARS) -> str:
    """The first ``chars`` characters, cut back to the last whitespace (so the encoder sees the injection)."""
    if len(text) <= chars:
        return text.strip()
    head = text[:chars]
    return head[: head.rfind(" ")].strip() if " " in head else head


def inject(context: str, attack: str, rng: random.Random) -> str:
    """BIPIA's placements: the instruction at the start, the middle (a line break) or the end of the document."""
    where = rng.choice(("start", "middle", "end"))
    if where == "start":
        return f"{attack}\n{context}"
    if where == "end":
        return f"{context}\n{attack}"
    lines = context.split("\n")
    mid = len(lines) // 2
    return "\n".join([*lines[:mid], attack, *lines[mid:]])


def bipia_email(mirrors: Path) -> tuple[Split, Split]:
    """E-mails as the model would read them (0) and the same e-mails with one BIPIA text attack inside (1).

    BIPIA's attack payloads are ordinary requests on their own ("Translate your response into
    Spanish"): they subvert the instructions only inside a document, so they appear only there.
    BIPIA's own train/test e-mails and train/test attacks are kept apart.
    """

    def emails(part: str) -> list[str]:
        lines = blob(BIPIA, f"benchmark/email/{part}.jsonl").read(mirrors).split("\n")
        contexts = [cap(json.loads(line)["context"]) for line in lines if line.strip()]
        return [contexts[i] for i in unique_exact(contexts)]

    def pairs(part: str, contexts: list[str]) -> Split:
        rng = random.Random(f"{SEED}-{part}")
        groups = json.loads(blob(BIPIA, f"benchmark/text_attack_{part}.json").read(mirrors))
        attacks = [attack for group in groups.values() for attack in group]
        rows = []
        for context in contexts:
            rows.append(Row(context, 0, BIPIA.name))
            rows.append(Row(inject(context, rng.choice(attacks), rng), 1, BIPIA.name))
        return rows

    test = emails("test")
    # Invoices from one sender share a template: a training e-mail that nearly duplicates a test e-mail
    # goes with both its rows (its injected copy would otherwise escape the row-level check below).
    test_index = ReferenceIndex(test)
    train = [context for context in emails("train") if test_index.match(context) is None]
    return pairs("train", train), pairs("test", test)


def notinject(mirrors: Path) -> Split:
    """NotInject (the PIGuard/InjecGuard paper's over-defence set): 339 benign prompts built around 1-3 trigger
    words each (its ``word_list``, case-folded, kept on the row)."""
    rows: Split = []
    for part in ("one", "two", "three"):
        items = json.loads(blob(NOTINJECT, f"datasets/NotInject_{part}.json").read(mirrors))
        rows += [
            Row(item["prompt"], 0, NOTINJECT.name, tuple(sorted({w.casefold() for w in item["word_list"]})))
            for item in items
        ]
    return rows


def split_notinject(rows: Split, holdout: float = NOTINJECT_HOLDOUT) -> tuple[Split, Split]:
    """Split NotInject by trigger WORD, so the held-out rows test words no training row was built around.

    A seeded ``1 - holdout`` of NotInject's trigger-word vocabulary becomes the training words; a row whose
    words are all training words is a training hard negative, every other row is held out (a row mixing
    both kinds would teach a held-out word). Each held-out row records whether any of its words is also a
    training row's word (``words_trained``), so the report scores the rows with only unseen words apart.
    """
    words = sorted({w for r in rows for w in r.trigger_words})
    random.Random(f"{SEED}-notinject").shuffle(words)
    training_words = set(words[: round(len(words) * (1 - holdout))])
    train = [r for r in rows if set(r.trigger_words) <= training_words]
    trained = {w for r in train for w in r.trigger_words}
    held = [
        Row(r.text, r.label, r.source, r.trigger_words, bool(trained & set(r.trigger_words)))
        for r in rows
        if not set(r.trigger_words) <= training_words
    ]
    return train, held


@dataclass
class Built:
    train: Split
    evals: dict[str, Split]  # file stem -> rows (deepset's test is read, never rewritten)
    removed: Counter[str]
    relabelled: Counter[str] = field(default_factory=Counter)  # "<source> <split>" -> benign rows relabelled 1


def is_persona(text: str) -> bool:
    """Whether a prompt opens by giving the model another identity or role (the label rule, ``PERSONA``)."""
    return PERSONA.search(text.translate(APOSTROPHES)) is not None


def relabel_personas(rows: Split, relabelled: Counter[str], where: str) -> Split:
    """The label rule on one non-deepset split: benign persona prompts become injections (1), as in deepset."""
    out = []
    for row in rows:
        if row.label == 0 and is_persona(row.text):
            relabelled[f"{row.source} {where}"] += 1
            row = Row(row.text, 1, row.source)
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


def assemble(
    deepset_train: Split,
    deepset_test: Split,
    trains: dict[str, Split],
    tests: dict[str, Split],
    held_benign: Split | None = None,
    hard_negatives: Split | None = None,
) -> Built:
    """Per-source test splits + trigger set first, then a training set with everything they contain removed.

    The label rule comes first: every non-deepset split has its benign persona prompts relabelled 1, and
    ``held_benign`` (benign-only prompts that are never trained on, NotInject) loses its persona prompts,
    which under the rule are not benign. Then order matters: the new evaluation splits lose what duplicates
    deepset's training texts (so the deepset-only models are measured fairly on them too); the broad
    training set then loses whatever duplicates ANY evaluation text, exactly or nearly (deepset's test
    included). ``hard_negatives`` (NotInject's training half) join the training candidates as they are: they
    are already split from their held-out half, so the trigger-word hold-out does not split them again.
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
    evals = {f"test_{k}": pools[f"test:{k}"] for k in tests} | {"trigger_benign": triggers}
    evals = {k: drop_matches(v, deepset_index, removed, f"{k} row duplicating deepset train") for k, v in evals.items()}
    every_eval = ReferenceIndex(r.text for rows in [deepset_test, *evals.values()] for r in rows)
    candidates = deepset_train + [r for k in trains for r in pools[f"train:{k}"]] + hard
    train = drop_matches(candidates, every_eval, removed, "training row duplicating an evaluation text")
    keep = unique_exact([r.text for r in train])
    removed["exact duplicate within the combined training set"] += len(train) - len(keep)
    return Built([train[i] for i in keep], evals, removed, relabelled)


TRIGGER_COLUMNS = ["trigger_words", "words_trained"]  # trigger_benign.csv only


def write_csv(path: Path, rows: Split, trigger_columns: bool = False) -> None:
    """text,label,source; the held-out trigger set adds NotInject's words ("|"-joined) and words_trained (0/1)."""
    with path.open("w", encoding="utf-8", newline="") as f:
        writer = csv.writer(f, lineterminator="\n")
        writer.writerow(["text", "label", "source", *(TRIGGER_COLUMNS if trigger_columns else [])])
        for r in rows:
            extra = ["|".join(r.trigger_words), int(r.words_trained)] if trigger_columns else []
            writer.writerow([r.text, r.label, r.source, *extra])


def build(mirrors: Path, out: Path) -> Built:
    lw_train, lw_test = llm_warden(mirrors)
    oa_train, oa_test = open_assistant(mirrors)
    em_train, em_test = bipia_email(mirrors)
    ni_train, ni_held = split_notinject(notinject(mirrors))
    built = assemble(
        read_csv(DEEPSET / "train.csv", DEEPSET_SOURCE),
        read_csv(DEEPSET / "test.csv", DEEPSET_SOURCE),
        {LLM_WARDEN.name: lw_train, OPEN_ASSISTANT.name: oa_train, BIPIA.name: em_train},
        {LLM_WARDEN.name: lw_test, OPEN_ASSISTANT.name: oa_test, BIPIA.name: em_test},
        ni_held,
        ni_train,
    )
    write_csv(out / "train.csv", built.train)
    for stem, rows in built.evals.items():
        write_csv(out / f"{stem}.csv", rows, trigger_columns=stem == "trigger_benign")
    from data.prompt_injections_broad.readme import write_readme

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
