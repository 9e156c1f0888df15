"""Readers of the first sources: llm_warden, Open-Assistant, BIPIA's e-mails and NotInject (pinned files).

Each returns rows as the sources give them (plus the family of their injections); the label rule, the
trigger-word hold-out and deduplication are `build`'s.
"""

from __future__ import annotations

import csv
import json
import random
from pathlib import Path

from data.prompt_injections_broad.dedup import ReferenceIndex, unique_exact
from data.prompt_injections_broad.rows import Row, Source, Split, blob

SEED = 18
NOTINJECT_HOLDOUT = 0.5  # share of NotInject's trigger words held out: rows with only the others are hard negatives
OPEN_ASSISTANT_TEST = 0.2
EMAIL_CHARS = 600
# Injected copies of every BIPIA training e-mail (each with another training attack, at a seeded place): the
# indirect family needs more than one example per e-mail; the test split keeps one copy per e-mail.
EMAIL_TRAIN_COPIES = 3
PLACES = ("start", "middle", "end")

LLM_WARDEN = Source("llm_warden", "jackhhao/llm-warden", "7bfdc5aaa72ed692ec23117204c0f5bc02b31005", "MIT")
OPEN_ASSISTANT = Source(
    "open_assistant", "LAION-AI/Open-Assistant", "f1e6ed9526f5817531f3ab85441a40b3671ddccb", "Apache-2.0"
)
BIPIA = Source("bipia_email", "microsoft/BIPIA", "1a2a91da6bb12838e05d1b2e54d98e2f37b835f3", "MIT")
NOTINJECT = Source("notinject", "leolee99/PIGuard", "1b5751e88bf7475acbedfc8eda795ce060307c84", "MIT")
DEEPSET_SOURCE = "deepset"
FIRST_SOURCES = (LLM_WARDEN, OPEN_ASSISTANT, BIPIA, NOTINJECT)


def llm_warden(mirrors: Path) -> tuple[Split, Split]:
    """jailbreak_dataset_{train,test}.csv (columns prompt, type): jailbreak -> 1, benign -> 0; its own split."""

    def load(part: str) -> Split:
        text = blob(LLM_WARDEN, f"datasets/default/jailbreak_dataset_{part}.csv").read(mirrors)
        rows = csv.DictReader(text.splitlines(keepends=True))
        label = {"jailbreak": 1, "benign": 0}
        family = {1: "jailbreak", 0: ""}
        return [Row(r["prompt"], label[r["type"]], LLM_WARDEN.name, family=family[label[r["type"]]]) for r in rows]

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


def inject(context: str, attack: str, rng: random.Random, where: str | None = None) -> str:
    """BIPIA's placements: the instruction at the start, the middle (a line break) or the end of the document."""
    where = where or rng.choice(PLACES)
    if where == "start":
        return f"{attack}\n{context}"
    if where == "end":
        return f"{context}\n{attack}"
    lines = context.split("\n")
    mid = len(lines) // 2
    return "\n".join([*lines[:mid], attack, *lines[mid:]])


def bipia_attacks(mirrors: Path, part: str) -> list[str]:
    """BIPIA's text attacks of one part (train/test), every group's, in file order."""
    groups = json.loads(blob(BIPIA, f"benchmark/text_attack_{part}.json").read(mirrors))
    return [attack for group in groups.values() for attack in group]


def bipia_contexts(mirrors: Path, part: str, chars: int | None = EMAIL_CHARS) -> list[str]:
    """BIPIA's e-mails of one part, unique, each capped at ``chars`` characters (None: whole)."""
    lines = blob(BIPIA, f"benchmark/email/{part}.jsonl").read(mirrors).split("\n")
    contexts = [json.loads(line)["context"] for line in lines if line.strip()]
    contexts = [cap(c, chars) if chars else c.strip() for c in contexts]
    return [contexts[i] for i in unique_exact(contexts)]


def bipia_email(mirrors: Path) -> tuple[Split, Split]:
    """E-mails as the model would read them (0) and the same e-mails with one BIPIA text attack inside (1).

    BIPIA's attack payloads are ordinary requests on their own ("Translate your response into
    Spanish"): they subvert the instructions only inside a document, so they appear only there.
    BIPIA's own train/test e-mails and train/test attacks are kept apart.
    """

    def pairs(part: str, contexts: list[str], copies: int) -> Split:
        rng = random.Random(f"{SEED}-{part}")
        attacks = bipia_attacks(mirrors, part)
        rows = []
        for context in contexts:
            rows.append(Row(context, 0, BIPIA.name))
            rows.append(Row(inject(context, rng.choice(attacks), rng), 1, BIPIA.name, family="indirect"))
        extra = random.Random(f"{SEED}-{part}-copies")  # after the first copies, so those stay as they were
        for context in contexts:
            for _ in range(copies - 1):
                text = inject(context, extra.choice(attacks), extra)
                rows.append(Row(text, 1, BIPIA.name, family="indirect"))
        return rows

    test = bipia_contexts(mirrors, "test")
    # Invoices from one sender share a template: a training e-mail that nearly duplicates a test e-mail
    # goes with both its rows (its injected copy would otherwise escape the row-level check below).
    test_index = ReferenceIndex(test)
    train = [context for context in bipia_contexts(mirrors, "train") if test_index.match(context) is None]
    return pairs("train", train, EMAIL_TRAIN_COPIES), pairs("test", test, 1)


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
