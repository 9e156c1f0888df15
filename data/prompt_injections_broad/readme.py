"""The data set's README, written by the build from what it built (so counts never drift from the CSVs)."""

# ruff: noqa: E501  (the README's markdown table rows below are one line each by nature)

from __future__ import annotations

import hashlib
from collections import Counter
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from data.prompt_injections_broad.build import Built

# The trigger-word set was read by hand after the build: how many rows, and what was found.
HAND_CHECKED = 44
HAND_CHECK_NOTE = (
    "all 44 rows the keyword split selected, before the exclusion. 43 are benign: 36 role-play requests "
    '("Pretend to be Saitama from One Punch Man…", "Roleplay as…"), 5 reading-comprehension prompts whose '
    'passage happens to say "ignored"/"forgotten"/"pretending", and 2 ordinary requests ("Do not forget to '
    'consider…", "the forgotten realms campaign setting"). One (open_assistant: "I want you to assume a '
    'personality… You should not tell me "as a language model"… pretend we are having a discussion") asks the '
    "model to drop its assistant role, so it is excluded (`HAND_EXCLUDED` in `build.py`). The set is dominated by "
    'llm_warden\'s "Pretend to be…" prompts: it measures over-defence on role-play and incidental trigger words, '
    'not on every phrasing (e.g. "Can I ignore this warning?")'
)

INTRO = """\
# prompt_injections_broad — a broader prompt-injection set with held-out over-defence checks

Built by `python -m data.prompt_injections_broad.build` (inputs: the pinned files below, read from bare git
mirrors, plus deepset's split in `../prompt_injections/`, which is kept as is). This README is written by the
same run. Label: `1` = an attempt to override or subvert the instructions the model was given (a direct
jailbreak, or an instruction smuggled into a document the model reads), `0` = benign. Columns:
`text,label,source`.

## Sources

| source | repository @ commit | files | licence (LICENSE at that commit) | what it gives |
|---|---|---|---|---|
| deepset | Hugging Face `deepset/prompt-injections` (see `../prompt_injections/README.md`) | `../prompt_injections/{train,test}.csv` | Apache-2.0 | 546 train / 116 test, kept as is; its test is an evaluation |
| llm_warden | `jackhhao/llm-warden` @ `7bfdc5aaa72ed692ec23117204c0f5bc02b31005` | `datasets/default/jailbreak_dataset_{train,test}.csv` | MIT (© 2023 jackhhao) | jailbreak (1) vs benign (0) prompts, many role-play "Pretend to be…" benign ones; its own train/test split |
| open_assistant | `LAION-AI/Open-Assistant` @ `f1e6ed9526f5817531f3ab85441a40b3671ddccb` | `model/model_eval/manual/data/{en_100_text,prompt_lottery_en_250_text}.jsonl` | Apache-2.0 | benign user prompts (0); seeded 80/20 split |
| bipia_email | `microsoft/BIPIA` @ `1a2a91da6bb12838e05d1b2e54d98e2f37b835f3` | `benchmark/email/{train,test}.jsonl`, `benchmark/text_attack_{train,test}.json` | MIT (© Microsoft; the e-mails are OpenAI Evals' invoices, MIT, per BIPIA's NOTICE.md) | each e-mail's first 600 characters as read by the model (0) and the same with one BIPIA text attack inserted at the start, middle or end (1); BIPIA's own train/test e-mails and attacks kept apart |

Left out: BIPIA's attack payloads as prompts on their own (they are ordinary requests — "Translate your response
into Spanish" — and subvert instructions only inside a document, so labelling them 1 would contradict the
label); BIPIA's table and code contexts (WikiTableQuestions and Stack Exchange, CC BY-SA 4.0: share-alike,
not needed here); BIPIA's QA/abstract contexts (not redistributed by BIPIA itself).

Redistributed with attribution under each source's licence; the licence texts are at the commits above.

## How the splits are made

1. Each source keeps its own test split (llm_warden's and BIPIA's published ones; a seeded 20 % of
   open_assistant). No row of any test split is ever trained on.
2. Benign prompts (label 0, non-deepset sources) containing a trigger word — `ignore`, `forget`, `override`,
   `disregard`, `pretend`, `system prompt` and their inflections (regex `TRIGGER` in `build.py`) — are split
   seeded 50/50 per source and split: one half is `trigger_benign.csv`, held out from training entirely; the
   other half stays where it was (training hard negatives, or test rows).
3. Deduplication, on normalised text (NFKC, case-folded, whitespace collapsed): exact duplicates, and near
   duplicates = character 5-gram Jaccard ≥ 0.8, candidates found by MinHash LSH (`datasketch`, 128
   permutations) and each confirmed by the exact Jaccard of the two 5-gram sets. The new evaluation splits
   lose rows duplicating deepset's training texts (so deepset-only models are measured fairly on them too);
   the training set loses every row duplicating ANY evaluation text (deepset's test, the per-source tests,
   the trigger set), then its own exact duplicates.
"""


def _counts(rows: list) -> str:
    by = Counter((r.source, r.label) for r in rows)
    sources = sorted({s for s, _ in by})
    return ", ".join(f"{s} {by[(s, 0)]}/{by[(s, 1)]}" for s in sources)


def write_readme(out: Path, built: Built) -> None:
    files = {"train": built.train} | built.evals
    lines = [INTRO, "## Files\n", "Counts per source as benign/injection (label 0/label 1).\n"]
    lines.append("| file | rows | label 0 | label 1 | per source (0/1) | bytes | sha256 |")
    lines.append("|---|---|---|---|---|---|---|")
    for stem, rows in files.items():
        path = out / f"{stem}.csv"
        data = path.read_bytes()
        zeros = sum(r.label == 0 for r in rows)
        lines.append(
            f"| {stem}.csv | {len(rows)} | {zeros} | {len(rows) - zeros} | {_counts(rows)} | {len(data)} | "
            f"`{hashlib.sha256(data).hexdigest()[:16]}…` |"
        )
    lines.append("\nThe deepset test split used as an evaluation is `../prompt_injections/test.csv` (unchanged).\n")
    lines.append("## Rows removed by the build\n")
    lines += [f"- {why}: {n}" for why, n in sorted(built.removed.items())]
    lines.append(
        f"\n## Hand check\n\n{HAND_CHECKED} rows of `trigger_benign.csv` were read by hand: {HAND_CHECK_NOTE}.\n"
    )
    (out / "README.md").write_text("\n".join(lines), encoding="utf-8")
